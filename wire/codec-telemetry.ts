/**
 * TELEMETRY body (PROTOCOL.md "TELEMETRY"): one RoundTelemetry record without experiment /
 * agent / round, which are the header's experiment id, sender id and round.
 *
 *     0   1  presence flags: bit 0 wasmHeapBytes, bit 1 temperatureC, bit 2 accuracy,
 *            bit 3 accuracy.prototype (needs bit 2); bits 4..7 are 0
 *     1   1  energy source (0 rapl, 1 ina3221, 2 pmic, 3 hwmon, 4 estimate)
 *     2  32  phases, 8 x f32 seconds >= 0: dataLoad train prototypes encode upload waitGlobal
 *            evaluate round
 *    34   8  cpu userSeconds, systemSeconds (f32 >= 0 each)
 *    42  24  memory peakRssBytes, heapUsedBytes, engineBytes (u64 <= 2^53-1 each)
 *    66   4  memory engineTensors (u32)
 *    70   8  memory freeSystemBytes (u64)
 *    78  16  net bytesSent, bytesReceived (u64 each)
 *    94   8  energy joules (f64, finite, >= 0)
 *   102   8  at, unix ms (f64, finite, >= 0)
 *   110      [bit 0: wasmHeapBytes u64] [bit 1: temperatureC f32]
 *            [bit 2: accuracy head f32 in [0,1], testCount u32] [bit 3: accuracy prototype f32]
 *     .      family (u8 length 0..32 + id chars), board (same),
 *            energy detail (u16 length <= 256 + UTF-8)
 */
import { ENERGY_SOURCES, TELEMETRY_DETAIL_MAX_BYTES, type HeaderFields, type TelemetryBody } from './codec-types.ts';
import { checkIdString, checkUint, enumIndex, enumName, fail, hex2, readU64, shortestFloat32, u64, type Reader, Writer } from './codec-io.ts';
import { checkFloat32Param } from './codec-bodies.ts';
import type { MemoryUse, PhaseSeconds, RoundTelemetry } from './telemetry.ts';

export const TELEMETRY_FLAG_WASM_HEAP = 0x01;
export const TELEMETRY_FLAG_TEMPERATURE = 0x02;
export const TELEMETRY_FLAG_ACCURACY = 0x04;
export const TELEMETRY_FLAG_PROTOTYPE_ACCURACY = 0x08;
const DEFINED_FLAGS = 0x0f;

/** Payload bytes before the optional fields and the strings. */
export const TELEMETRY_FIXED_BYTES = 110;

const PHASES: readonly (keyof PhaseSeconds)[] = Object.freeze([
  'dataLoad',
  'train',
  'prototypes',
  'encode',
  'upload',
  'waitGlobal',
  'evaluate',
  'round',
] as const);

const MAX_SAFE = Number.MAX_SAFE_INTEGER; // 2^53 - 1

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function checkObject(ctx: string, what: string, v: unknown): void {
  if (typeof v !== 'object' || v === null) fail('E_CODEC_FIELD', `${ctx}: ${what} must be an object, got ${v === null ? 'null' : typeof v}`, { got: v });
}

/** A byte count: an integer in [0, 2^53 - 1] (u64 on the wire). */
function checkByteCount(ctx: string, what: string, v: unknown): number {
  if (typeof v === 'number' && !Number.isFinite(v)) fail('E_NON_FINITE', `${ctx}: ${what} is not finite (${v})`, { got: v });
  return checkUint(ctx, what, v, 0, MAX_SAFE);
}

/** A float64 that must be finite and >= 0 (joules, at). */
function checkNonNegative64(ctx: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail('E_NON_FINITE', `${ctx}: ${what} is not finite (${String(v)})`, { got: v });
  if (v < 0) fail('E_CODEC_FIELD', `${ctx}: ${what} must be >= 0, got ${v}`, { got: v });
  return v;
}

function checkFinite32(ctx: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !Number.isFinite(Math.fround(v))) {
    fail('E_NON_FINITE', `${ctx}: ${what} is not a finite float32 (${String(v)})`, { got: v });
  }
  return v;
}

function checkFraction(ctx: string, what: string, v: unknown): number {
  const x = checkFinite32(ctx, what, v);
  if (!(x >= 0 && x <= 1)) fail('E_CODEC_FIELD', `${ctx}: ${what} must be in [0, 1], got ${x}`, { got: x });
  return x;
}

function checkFlags(ctx: string, flags: number): void {
  if ((flags & ~DEFINED_FLAGS) !== 0) {
    fail('E_CODEC_FIELD', `${ctx}: presence flags ${hex2(flags)} have undefined bits set (defined: ${hex2(DEFINED_FLAGS)})`, { got: flags });
  }
  if ((flags & TELEMETRY_FLAG_PROTOTYPE_ACCURACY) !== 0 && (flags & TELEMETRY_FLAG_ACCURACY) === 0) {
    fail('E_CODEC_FIELD', `${ctx}: presence flags ${hex2(flags)} mark accuracy.prototype without accuracy`, { got: flags });
  }
}

/** If the body carries experiment / agent / round (a whole record), they must match the header. */
function checkAgainstHeader(ctx: string, h: HeaderFields, b: object): void {
  const rec = b as Partial<Record<'experiment' | 'agent' | 'round', unknown>>;
  const pairs: Array<[string, unknown, unknown, string]> = [
    ['experiment', rec.experiment, h.experiment, 'experiment id'],
    ['agent', rec.agent, h.sender, 'sender id'],
    ['round', rec.round, h.round, 'round'],
  ];
  for (const [key, got, want, headerName] of pairs) {
    if (got !== undefined && got !== want) {
      fail('E_CODEC_FIELD', `${ctx}: record ${key} ${JSON.stringify(got)} differs from the header ${headerName} ${JSON.stringify(want)}`, {
        expected: want,
        got,
      });
    }
  }
}

export function encodeTelemetryBody(ctx: string, h: HeaderFields, b: TelemetryBody): Uint8Array {
  checkObject(ctx, 'telemetry body', b);
  checkAgainstHeader(ctx, h, b);
  const family = checkIdString(ctx, 'family', b.family, 0);
  const board = checkIdString(ctx, 'board', b.board, 0);
  checkObject(ctx, 'phases', b.phases);
  const phases = PHASES.map((k) => checkFloat32Param(ctx, `phases.${k}`, b.phases[k]));
  checkObject(ctx, 'memory', b.memory);
  const m: MemoryUse = b.memory;
  const peakRss = checkByteCount(ctx, 'memory.peakRssBytes', m.peakRssBytes);
  const heapUsed = checkByteCount(ctx, 'memory.heapUsedBytes', m.heapUsedBytes);
  const engineBytes = checkByteCount(ctx, 'memory.engineBytes', m.engineBytes);
  const engineTensors = checkUint(ctx, 'memory.engineTensors', m.engineTensors, 0, 0xffffffff);
  const wasm = m.wasmHeapBytes === null ? null : checkByteCount(ctx, 'memory.wasmHeapBytes', m.wasmHeapBytes);
  const free = checkByteCount(ctx, 'memory.freeSystemBytes', m.freeSystemBytes);
  checkObject(ctx, 'cpu', b.cpu);
  const user = checkFloat32Param(ctx, 'cpu.userSeconds', b.cpu.userSeconds);
  const system = checkFloat32Param(ctx, 'cpu.systemSeconds', b.cpu.systemSeconds);
  checkObject(ctx, 'net', b.net);
  const sent = checkByteCount(ctx, 'net.bytesSent', b.net.bytesSent);
  const received = checkByteCount(ctx, 'net.bytesReceived', b.net.bytesReceived);
  const temperature = b.temperatureC === null ? null : checkFinite32(ctx, 'temperatureC', b.temperatureC);
  checkObject(ctx, 'energy', b.energy);
  const joules = checkNonNegative64(ctx, 'energy.joules', b.energy.joules);
  const source = enumIndex(ctx, 'energy.source', ENERGY_SOURCES, b.energy.source);
  const detailText: unknown = b.energy.detail;
  if (typeof detailText !== 'string') fail('E_CODEC_FIELD', `${ctx}: energy.detail must be a string, got ${typeof detailText}`);
  const detail = utf8Encoder.encode(detailText);
  if (detail.length > TELEMETRY_DETAIL_MAX_BYTES) {
    fail('E_CODEC_FIELD', `${ctx}: energy.detail is ${detail.length} UTF-8 bytes, limit ${TELEMETRY_DETAIL_MAX_BYTES}`, {
      got: detail.length,
      limit: TELEMETRY_DETAIL_MAX_BYTES,
    });
  }
  if (utf8Decoder.decode(detail) !== detailText) fail('E_CODEC_FIELD', `${ctx}: energy.detail is not well-formed UTF-16 (lone surrogate)`);
  let acc: { head: number; prototype: number | null; testCount: number } | null = null;
  if (b.accuracy !== null) {
    checkObject(ctx, 'accuracy', b.accuracy);
    acc = {
      head: checkFraction(ctx, 'accuracy.head', b.accuracy.head),
      prototype: b.accuracy.prototype === null ? null : checkFraction(ctx, 'accuracy.prototype', b.accuracy.prototype),
      testCount: checkUint(ctx, 'accuracy.testCount', b.accuracy.testCount, 0, 0xffffffff),
    };
  }
  const at = checkNonNegative64(ctx, 'at', b.at);

  const flags =
    (wasm !== null ? TELEMETRY_FLAG_WASM_HEAP : 0) |
    (temperature !== null ? TELEMETRY_FLAG_TEMPERATURE : 0) |
    (acc !== null ? TELEMETRY_FLAG_ACCURACY : 0) |
    (acc !== null && acc.prototype !== null ? TELEMETRY_FLAG_PROTOTYPE_ACCURACY : 0);
  const w = new Writer(TELEMETRY_FIXED_BYTES + 24 + 4 + family.length + board.length + detail.length);
  w.u8(flags);
  w.u8(source);
  for (const p of phases) w.f32(p);
  w.f32(user);
  w.f32(system);
  u64(w, peakRss);
  u64(w, heapUsed);
  u64(w, engineBytes);
  w.u32(engineTensors);
  u64(w, free);
  u64(w, sent);
  u64(w, received);
  w.f64(joules);
  w.f64(at);
  if (wasm !== null) u64(w, wasm);
  if (temperature !== null) w.f32(temperature);
  if (acc !== null) {
    w.f32(acc.head);
    w.u32(acc.testCount);
    if (acc.prototype !== null) w.f32(acc.prototype);
  }
  w.shortAscii(family);
  w.shortAscii(board);
  w.u16(detail.length);
  w.bytes(detail);
  return w.finish();
}

function readSeconds(r: Reader, what: string): number {
  return shortestFloat32(checkFloat32Param(r.ctx, what, r.f32(what)));
}

function readFraction(r: Reader, what: string): number {
  return shortestFloat32(checkFraction(r.ctx, what, r.f32(what)));
}

function readNonNegative64(r: Reader, what: string): number {
  return checkNonNegative64(r.ctx, what, r.f64(what));
}

export function decodeTelemetryBody(r: Reader): TelemetryBody {
  const ctx = r.ctx;
  const flags = r.u8('presence flags');
  checkFlags(ctx, flags);
  const source = enumName(ctx, 'energy.source', ENERGY_SOURCES, r.u8('energy.source'));
  const p = PHASES.map((k) => readSeconds(r, `phases.${k}`));
  const phases: PhaseSeconds = {
    dataLoad: p[0]!,
    train: p[1]!,
    prototypes: p[2]!,
    encode: p[3]!,
    upload: p[4]!,
    waitGlobal: p[5]!,
    evaluate: p[6]!,
    round: p[7]!,
  };
  const userSeconds = readSeconds(r, 'cpu.userSeconds');
  const systemSeconds = readSeconds(r, 'cpu.systemSeconds');
  const peakRssBytes = readU64(r, 'memory.peakRssBytes');
  const heapUsedBytes = readU64(r, 'memory.heapUsedBytes');
  const engineBytes = readU64(r, 'memory.engineBytes');
  const engineTensors = r.u32('memory.engineTensors');
  const freeSystemBytes = readU64(r, 'memory.freeSystemBytes');
  const bytesSent = readU64(r, 'net.bytesSent');
  const bytesReceived = readU64(r, 'net.bytesReceived');
  const joules = readNonNegative64(r, 'energy.joules');
  const at = readNonNegative64(r, 'at');
  const wasmHeapBytes = flags & TELEMETRY_FLAG_WASM_HEAP ? readU64(r, 'memory.wasmHeapBytes') : null;
  const temperatureC =
    flags & TELEMETRY_FLAG_TEMPERATURE ? shortestFloat32(checkFinite32(ctx, 'temperatureC', r.f32('temperatureC'))) : null;
  let accuracy: RoundTelemetry['accuracy'] = null;
  if (flags & TELEMETRY_FLAG_ACCURACY) {
    const head = readFraction(r, 'accuracy.head');
    const testCount = r.u32('accuracy.testCount');
    const prototype = flags & TELEMETRY_FLAG_PROTOTYPE_ACCURACY ? readFraction(r, 'accuracy.prototype') : null;
    accuracy = { head, prototype, testCount };
  }
  const family = r.shortId('family', 0);
  const board = r.shortId('board', 0);
  const detailLen = r.u16('energy.detail length');
  if (detailLen > TELEMETRY_DETAIL_MAX_BYTES) {
    fail('E_CODEC_FIELD', `${ctx}: energy.detail is ${detailLen} UTF-8 bytes, limit ${TELEMETRY_DETAIL_MAX_BYTES}`, {
      got: detailLen,
      limit: TELEMETRY_DETAIL_MAX_BYTES,
    });
  }
  const bytes = r.bytes(detailLen, 'energy.detail');
  r.finish();
  let detail: string;
  try {
    detail = utf8Decoder.decode(bytes);
  } catch {
    return fail('E_CODEC_FIELD', `${ctx}: energy.detail is not valid UTF-8`, { length: detailLen });
  }
  return {
    family,
    board,
    phases,
    memory: { peakRssBytes, heapUsedBytes, engineBytes, engineTensors, wasmHeapBytes, freeSystemBytes },
    cpu: { userSeconds, systemSeconds },
    net: { bytesSent, bytesReceived },
    temperatureC,
    energy: { joules, source, detail },
    accuracy,
    at,
  };
}

/** Payload bytes of a TELEMETRY body (the record must be valid; sizes only, no checks). */
export function telemetryBodySize(b: TelemetryBody): number {
  let n = TELEMETRY_FIXED_BYTES;
  if (b.memory.wasmHeapBytes !== null) n += 8;
  if (b.temperatureC !== null) n += 4;
  if (b.accuracy !== null) n += b.accuracy.prototype !== null ? 12 : 8;
  return n + 1 + b.family.length + 1 + b.board.length + 2 + utf8Encoder.encode(b.energy.detail).length;
}
