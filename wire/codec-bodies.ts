/**
 * MASKS, ROUND and STATUS bodies (PROTOCOL.md). UPLOAD/GLOBAL bodies are in codec-values.ts,
 * TELEMETRY in codec-telemetry.ts.
 */
import { blocksPerClassFor, makeClassMasks, DEFAULT_MASK_CANDIDATES, type ClassMasks, type MaskParams } from './masks.ts';
import {
  AGENT_STATES,
  MAX_MASK_CELLS,
  MAX_MASK_GENERATOR_WORK,
  ROUND_METHODS,
  ROUND_SELECT_BY_RANK,
  STATUS_NOTE_MAX_BYTES,
  VALUE_TYPES,
  type DecodeExpect,
  type DecodedMasksBody,
  type MasksBody,
  type RoundBody,
  type StatusBody,
} from './codec-types.ts';
import { checkIdString, checkUint, enumIndex, enumName, fail, readU64, shortestFloat32, u64, type Reader, Writer } from './codec-io.ts';
import { readShape } from './codec-values.ts';

// ---------------------------------------------------------------------------------------- MASKS
// K u16, d u16, s u16, mode u8; mode 0: ratio f32, seed u32, candidates u16;
// mode 1: K rows of ceil(d/8) bytes, LSB-first.

function checkRatio(ctx: string, ratio: unknown): number {
  if (typeof ratio !== 'number' || !Number.isFinite(ratio)) {
    fail('E_NON_FINITE', `${ctx}: ratio is not finite (${String(ratio)})`, { got: ratio });
  }
  if (!(ratio > 0) || ratio > 1) fail('E_CODEC_FIELD', `${ctx}: ratio must satisfy 0 < ratio <= 1, got ${ratio}`, { got: ratio });
  return ratio;
}

export function encodeMasksBody(ctx: string, b: MasksBody): Uint8Array {
  const w = new Writer(64);
  if (b.mode === 'params') {
    const p = b.params;
    const K = checkUint(ctx, 'numClasses', p.numClasses, 2, 0xffff);
    const d = checkUint(ctx, 'featureDim', p.featureDim, K, 0xffff);
    const ratio = checkRatio(ctx, p.ratio);
    const onWire = shortestFloat32(ratio);
    const k = Math.min(K, blocksPerClassFor(K, ratio));
    if (Math.min(K, blocksPerClassFor(K, onWire)) !== k) {
      fail('E_CODEC_FIELD', `${ctx}: ratio ${ratio} does not survive float32 (${onWire} gives a different k)`, {
        got: ratio,
      });
    }
    const seed = checkUint(ctx, 'seed', p.seed, 0, 0xffffffff);
    const candidates = checkUint(ctx, 'candidates', p.candidates ?? DEFAULT_MASK_CANDIDATES, 1, 0xffff);
    w.u16(K);
    w.u16(d);
    w.u16(k * Math.floor(d / K));
    w.u8(0);
    w.f32(ratio);
    w.u32(seed);
    w.u16(candidates);
    return w.finish();
  }
  if (b.mode !== 'bitsets') fail('E_CODEC_FIELD', `${ctx}: mode must be params or bitsets, got ${String((b as { mode: unknown }).mode)}`);
  const m = b.masks;
  const K = checkUint(ctx, 'numClasses', m.params.numClasses, 1, 0xffff);
  const d = checkUint(ctx, 'featureDim', m.params.featureDim, 1, 0xffff);
  const s = checkUint(ctx, 's', m.s, 1, 0xffff);
  if (s > d) fail('E_SHAPE', `${ctx}: s = ${s} exceeds d = ${d}`, { s, d });
  if (!(m.masks instanceof Uint8Array) || m.masks.length !== K * d) {
    fail('E_SHAPE', `${ctx}: masks must be a Uint8Array of K*d = ${K * d} entries, got ${String(m.masks?.length)}`, {
      expected: K * d,
      got: m.masks?.length,
    });
  }
  w.u16(K);
  w.u16(d);
  w.u16(s);
  w.u8(1);
  const rowBytes = Math.ceil(d / 8);
  for (let j = 0; j < K; j++) {
    const row = new Uint8Array(rowBytes);
    let ones = 0;
    for (let t = 0; t < d; t++) {
      const v = m.masks[j * d + t]!;
      if (v !== 0 && v !== 1) fail('E_CODEC_FIELD', `${ctx}: class ${j} mask entry ${t} is ${v}, must be 0 or 1`, { classId: j, index: t });
      if (v === 1) {
        row[t >> 3] = row[t >> 3]! | (1 << (t & 7));
        ones++;
      }
    }
    if (ones !== s) fail('E_SHAPE', `${ctx}: class ${j} mask has ${ones} ones, expected s = ${s}`, { classId: j, expected: s, got: ones });
    w.bytes(row);
  }
  return w.finish();
}

function popcount8(x: number): number {
  let c = 0;
  for (let v = x; v !== 0; v &= v - 1) c++;
  return c;
}

/** A ClassMasks from explicit rows; block fields describe the whole blocks each row covers. */
function masksFromRows(K: number, d: number, s: number, masks: Uint8Array, indices: Int32Array[]): ClassMasks {
  const blockSize = Math.floor(d / K);
  const codes: Uint8Array[] = [];
  for (let j = 0; j < K; j++) {
    const code = new Uint8Array(K);
    if (blockSize > 0) {
      for (let b = 0; b < K; b++) {
        let full = 1;
        for (let q = 0; q < blockSize && full; q++) full = masks[j * d + b * blockSize + q]!;
        code[b] = full;
      }
    }
    codes.push(code);
  }
  const params: MaskParams = { numClasses: K, featureDim: d, ratio: s / d, seed: Number.NaN };
  return {
    params,
    blockSize,
    blocksPerClass: blockSize > 0 && s % blockSize === 0 ? s / blockSize : 0,
    codes,
    masks,
    indices,
    s,
  };
}

export function decodeMasksBody(r: Reader, e: DecodeExpect): DecodedMasksBody {
  const ctx = r.ctx;
  const { K, d, s } = readShape(r, e);
  const mode = r.u8('mode');
  if (mode === 0) {
    const ratio32 = r.f32('ratio');
    const seed = r.u32('seed');
    const candidates = r.u16('candidates');
    r.finish();
    if (K < 2) fail('E_SHAPE', `${ctx}: generator needs K >= 2, got ${K}`, { got: K });
    if (d < K) fail('E_SHAPE', `${ctx}: generator needs d >= K, got d = ${d}, K = ${K}`, { d, K });
    const ratio = shortestFloat32(checkRatio(ctx, ratio32));
    if (candidates < 1) fail('E_CODEC_FIELD', `${ctx}: candidates must be >= 1, got 0`, { got: candidates });
    if (K * d > MAX_MASK_CELLS) {
      fail('E_CODEC_FIELD', `${ctx}: K*d = ${K * d} exceeds the generator limit ${MAX_MASK_CELLS}`, { got: K * d });
    }
    if (K * K * candidates > MAX_MASK_GENERATOR_WORK) {
      fail('E_CODEC_FIELD', `${ctx}: generator work K*K*candidates = ${K * K * candidates} exceeds ${MAX_MASK_GENERATOR_WORK}`, {
        got: K * K * candidates,
      });
    }
    const expectedS = Math.min(K, blocksPerClassFor(K, ratio)) * Math.floor(d / K);
    if (expectedS !== s) {
      fail('E_CODEC_FIELD', `${ctx}: s = ${s} does not match the generator parameters (s = ${expectedS})`, {
        expected: expectedS,
        got: s,
      });
    }
    const params: MaskParams = { numClasses: K, featureDim: d, ratio, seed, candidates };
    const masks = makeClassMasks(params);
    return { mode: 'params', params: masks.params, masks };
  }
  if (mode !== 1) fail('E_CODEC_FIELD', `${ctx}: mask mode ${mode} is not defined (0..1)`, { got: mode });
  const rowBytes = Math.ceil(d / 8);
  r.need(K * rowBytes, `${K} bitset rows x ${rowBytes} bytes`);
  if (r.remaining > K * rowBytes) r.finish(K * rowBytes);
  const masks = new Uint8Array(K * d);
  const indices: Int32Array[] = [];
  const tailBits = d & 7;
  for (let j = 0; j < K; j++) {
    const row = r.bytes(rowBytes, `class ${j} bitset`);
    if (tailBits !== 0 && row[rowBytes - 1]! >> tailBits !== 0) {
      fail('E_CODEC_FIELD', `${ctx}: class ${j} bitset has padding bits set beyond d = ${d}`, { classId: j });
    }
    let ones = 0;
    for (let i = 0; i < rowBytes; i++) ones += popcount8(row[i]!);
    if (ones !== s) {
      fail('E_CODEC_FIELD', `${ctx}: class ${j} bitset has ${ones} ones, expected s = ${s}`, {
        classId: j,
        expected: s,
        got: ones,
      });
    }
    const idx = new Int32Array(s);
    let t = 0;
    for (let dim = 0; dim < d; dim++) {
      if ((row[dim >> 3]! >> (dim & 7)) & 1) {
        masks[j * d + dim] = 1;
        idx[t++] = dim;
      }
    }
    indices.push(idx);
  }
  r.finish();
  return { mode: 'bitsets', masks: masksFromRows(K, d, s, masks, indices) };
}

// ---------------------------------------------------------------------------------------- ROUND
// method u8, value type u8, deadline f64, lambda f32, lr f32, batch u16, epochs u16,
// selected count u16, then either selected ids (u8 length + ASCII each) or, when the count is
// 0xFFFF, a u64 rank threshold.

export function checkFloat32Param(ctx: string, what: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !Number.isFinite(Math.fround(v))) {
    fail('E_NON_FINITE', `${ctx}: ${what} is not a finite float32 (${String(v)})`, { got: v });
  }
  if (v < 0) fail('E_CODEC_FIELD', `${ctx}: ${what} must be >= 0, got ${v}`, { got: v });
  return v;
}

function checkSelected(ctx: string, ids: readonly string[]): void {
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id)) fail('E_CODEC_FIELD', `${ctx}: selected agent "${id}" appears more than once`, { got: id });
    seen.add(id);
  }
}

export function encodeRoundBody(ctx: string, b: RoundBody): Uint8Array {
  const method = enumIndex(ctx, 'method', ROUND_METHODS, b.method);
  const vt = enumIndex(ctx, 'value type', VALUE_TYPES, b.valueType);
  if (typeof b.deadlineMs !== 'number' || !Number.isFinite(b.deadlineMs)) {
    fail('E_NON_FINITE', `${ctx}: deadline is not finite (${String(b.deadlineMs)})`, { got: b.deadlineMs });
  }
  const lambda = checkFloat32Param(ctx, 'lambda', b.lambda);
  const lr = checkFloat32Param(ctx, 'lr', b.lr);
  const batch = checkUint(ctx, 'batch size', b.batchSize, 1, 0xffff);
  const epochs = checkUint(ctx, 'local epochs', b.localEpochs, 0, 0xffff);
  if (!Array.isArray(b.selected)) fail('E_CODEC_FIELD', `${ctx}: selected must be an array of agent ids`);
  checkUint(ctx, 'selected count', b.selected.length, 0, ROUND_SELECT_BY_RANK - 1);
  const byRank = b.rankThreshold !== undefined;
  if (byRank) {
    checkUint(ctx, 'rank threshold', b.rankThreshold, 0, Number.MAX_SAFE_INTEGER);
    if (b.selected.length > 0) fail('E_CODEC_FIELD', `${ctx}: a round selects by list or by rank threshold, not both`);
  }
  b.selected.forEach((id, i) => checkIdString(ctx, `selected agent ${i}`, id));
  checkSelected(ctx, b.selected);
  const w = new Writer(26 + 33 * b.selected.length);
  w.u8(method);
  w.u8(vt);
  w.f64(b.deadlineMs);
  w.f32(lambda);
  w.f32(lr);
  w.u16(batch);
  w.u16(epochs);
  if (byRank) {
    w.u16(ROUND_SELECT_BY_RANK);
    u64(w, b.rankThreshold!);
  } else {
    w.u16(b.selected.length);
    for (const id of b.selected) w.shortAscii(id);
  }
  return w.finish();
}

export function decodeRoundBody(r: Reader): RoundBody {
  const ctx = r.ctx;
  const method = enumName(ctx, 'method', ROUND_METHODS, r.u8('method'));
  const valueType = enumName(ctx, 'value type', VALUE_TYPES, r.u8('value type'));
  const deadlineMs = r.f64('deadline');
  if (!Number.isFinite(deadlineMs)) fail('E_NON_FINITE', `${ctx}: deadline is not finite (${deadlineMs})`, { got: deadlineMs });
  const lambda = shortestFloat32(checkFloat32Param(ctx, 'lambda', r.f32('lambda')));
  const lr = shortestFloat32(checkFloat32Param(ctx, 'lr', r.f32('lr')));
  const batchSize = r.u16('batch size');
  if (batchSize < 1) fail('E_CODEC_FIELD', `${ctx}: batch size must be >= 1, got 0`, { got: batchSize });
  const localEpochs = r.u16('local epochs');
  const n = r.u16('selected count');
  if (n === ROUND_SELECT_BY_RANK) {
    const rankThreshold = readU64(r, 'rank threshold');
    r.finish();
    return { method, valueType, deadlineMs, lambda, lr, batchSize, localEpochs, selected: [], rankThreshold };
  }
  const selected: string[] = [];
  for (let i = 0; i < n; i++) selected.push(r.shortId(`selected agent ${i}`));
  r.finish();
  checkSelected(ctx, selected);
  return { method, valueType, deadlineMs, lambda, lr, batchSize, localEpochs, selected };
}

// --------------------------------------------------------------------------------------- STATUS
// state u8, time f64, last round u32, model family (u8 length + ASCII, 0..32),
// note (u16 length + UTF-8, <= 256 bytes).

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function encodeStatusBody(ctx: string, b: StatusBody): Uint8Array {
  const state = enumIndex(ctx, 'state', AGENT_STATES, b.state);
  if (typeof b.timeMs !== 'number' || !Number.isFinite(b.timeMs)) {
    fail('E_NON_FINITE', `${ctx}: time is not finite (${String(b.timeMs)})`, { got: b.timeMs });
  }
  const lastRound = checkUint(ctx, 'last round', b.lastRound, 0, 0xffffffff);
  const family = checkIdString(ctx, 'model family', b.modelFamily, 0);
  if (typeof b.note !== 'string') fail('E_CODEC_FIELD', `${ctx}: note must be a string, got ${typeof b.note}`);
  const note = utf8Encoder.encode(b.note);
  if (note.length > STATUS_NOTE_MAX_BYTES) {
    fail('E_CODEC_FIELD', `${ctx}: note is ${note.length} UTF-8 bytes, limit ${STATUS_NOTE_MAX_BYTES}`, {
      got: note.length,
      limit: STATUS_NOTE_MAX_BYTES,
    });
  }
  if (utf8Decoder.decode(note) !== b.note) fail('E_CODEC_FIELD', `${ctx}: note is not well-formed UTF-16 (lone surrogate)`);
  const w = new Writer(16 + family.length + note.length);
  w.u8(state);
  w.f64(b.timeMs);
  w.u32(lastRound);
  w.shortAscii(family);
  w.u16(note.length);
  w.bytes(note);
  return w.finish();
}

export function decodeStatusBody(r: Reader): StatusBody {
  const ctx = r.ctx;
  const state = enumName(ctx, 'state', AGENT_STATES, r.u8('state'));
  const timeMs = r.f64('time');
  if (!Number.isFinite(timeMs)) fail('E_NON_FINITE', `${ctx}: time is not finite (${timeMs})`, { got: timeMs });
  const lastRound = r.u32('last round');
  const modelFamily = r.shortId('model family', 0);
  const noteLen = r.u16('note length');
  if (noteLen > STATUS_NOTE_MAX_BYTES) {
    fail('E_CODEC_FIELD', `${ctx}: note is ${noteLen} UTF-8 bytes, limit ${STATUS_NOTE_MAX_BYTES}`, {
      got: noteLen,
      limit: STATUS_NOTE_MAX_BYTES,
    });
  }
  const bytes = r.bytes(noteLen, 'note');
  r.finish();
  let note: string;
  try {
    note = utf8Decoder.decode(bytes);
  } catch {
    return fail('E_CODEC_FIELD', `${ctx}: note is not valid UTF-8`, { length: noteLen });
  }
  return { state, timeMs, lastRound, modelFamily, note };
}
