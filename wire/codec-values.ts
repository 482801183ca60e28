/**
 * UPLOAD / GLOBAL bodies (PROTOCOL.md "UPLOAD", "GLOBAL", "Value encodings") and their sizes.
 *
 *   0  2  K (u16)            4  2  s (u16)            7  1  value type (0 f32, 1 f16, 2 int8)
 *   2  2  d (u16)            6  1  layout (0 sparse, 1 dense)
 *   UPLOAD only, when bit 7 of byte 6 is set: 8  4  the agent's training-sample count (u32)
 *   8 (or 12)  ceil(K/8)  class-presence bitmap, LSB-first
 *   then per present class, increasing class id:
 *     [GLOBAL only: contributors u16] [int8 only: scale f32] s values (4, 2 or 1 bytes each)
 */
import { float16BitsToFloat32, float32ToFloat16Bits, FLOAT16_MAX } from './float16.ts';
import {
  LAYOUTS,
  MAX_TRAIN_SAMPLES,
  UPLOAD_FLAG_TRAIN_SAMPLES,
  VALUE_TYPES,
  type DecodeExpect,
  type GlobalClassValues,
  type Layout,
  type ValueType,
} from './codec-types.ts';
import { checkUint, enumIndex, enumName, fail, hex2, type Reader, Writer } from './codec-io.ts';

const FIXED_BODY_BYTES = 8;

export function bytesPerValue(valueType: ValueType): number {
  switch (valueType) {
    case 'float32':
      return 4;
    case 'float16':
      return 2;
    case 'int8':
      return 1;
    default: {
      const never: never = valueType;
      return fail('E_CODEC_FIELD', `value type must be one of ${VALUE_TYPES.join(', ')}, got ${String(never)}`);
    }
  }
}

/** Bytes of one present class: [contributors u16] [scale f32] + s values. */
function perClassBytes(s: number, valueType: ValueType, withCounts: boolean): number {
  return (withCounts ? 2 : 0) + (valueType === 'int8' ? 4 : 0) + s * bytesPerValue(valueType);
}

function checkSizeArgs(K: number, presentCount: number, s: number): void {
  checkUint('size', 'K', K, 1, 0xffff);
  checkUint('size', 'presentCount', presentCount, 0, K);
  checkUint('size', 's', s, 1, 0xffff);
}

/**
 * Payload bytes of an UPLOAD (withCounts = false) or GLOBAL (withCounts = true) body;
 * withTrainSamples: an UPLOAD that reports its training-sample count (4 more bytes).
 */
export function prototypeBodySize(
  K: number,
  presentCount: number,
  s: number,
  valueType: ValueType,
  withCounts: boolean,
  withTrainSamples = false,
): number {
  checkSizeArgs(K, presentCount, s);
  return FIXED_BODY_BYTES + (withTrainSamples ? 4 : 0) + Math.ceil(K / 8) + presentCount * perClassBytes(s, valueType, withCounts);
}

/** An UPLOAD's training-sample count: null (not reported) or an integer in 1..2^31 (E_CODEC_FIELD). */
export function checkTrainSamples(ctx: string, v: unknown): number | null {
  if (v === undefined || v === null) return null;
  return checkUint(ctx, 'trainSamples', v, 1, MAX_TRAIN_SAMPLES);
}

/** round(x) with halves away from zero (C roundf), so quantisation is symmetric in sign. */
function roundHalfAway(x: number): number {
  return x < 0 ? -Math.round(-x) : Math.round(x);
}

/** int8 scale rule: float32(maxAbs / 127), 0 when every value is 0. */
export function int8Scale(values: Float32Array): number {
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    const a = Math.abs(values[i]!);
    if (a > maxAbs) maxAbs = a;
  }
  return Math.fround(maxAbs / 127);
}

export function quantizeInt8(v: number, scale: number): number {
  if (scale === 0) return 0;
  const q = roundHalfAway(v / scale);
  return q > 127 ? 127 : q < -127 ? -127 : q;
}

export interface PrototypeBodyInput {
  K: number;
  d: number;
  s: number;
  layout: Layout;
  valueType: ValueType;
  prototypes: ReadonlyArray<{ classId: number; values: Float32Array; contributors?: number }>;
  /** UPLOAD only: the agent's training-sample count (null / absent: not reported). */
  trainSamples?: number | null;
}

/** Validate the shape fields shared by encoder and size precheck; returns sorted prototypes. */
export function checkPrototypeBody(
  ctx: string,
  b: PrototypeBodyInput,
  withCounts: boolean,
): Array<{ classId: number; values: Float32Array; contributors?: number }> {
  checkUint(ctx, 'K', b.K, 1, 0xffff);
  checkUint(ctx, 'd', b.d, 1, 0xffff);
  checkUint(ctx, 's', b.s, 1, 0xffff);
  if (b.s > b.d) fail('E_SHAPE', `${ctx}: s = ${b.s} exceeds d = ${b.d}`, { s: b.s, d: b.d });
  enumIndex(ctx, 'layout', LAYOUTS, b.layout);
  enumIndex(ctx, 'value type', VALUE_TYPES, b.valueType);
  if (b.layout === 'dense' && b.s !== b.d) {
    fail('E_SHAPE', `${ctx}: dense layout needs s = d, got s = ${b.s}, d = ${b.d}`, { s: b.s, d: b.d });
  }
  if (!Array.isArray(b.prototypes)) fail('E_SHAPE', `${ctx}: prototypes must be an array`);
  const sorted = [...b.prototypes].sort((x, y) => x.classId - y.classId);
  for (let i = 0; i < sorted.length; i++) {
    const p = sorted[i]!;
    if (!Number.isInteger(p.classId) || p.classId < 0 || p.classId >= b.K) {
      fail('E_SHAPE', `${ctx}: class id ${p.classId} out of range [0, ${b.K})`, { got: p.classId, K: b.K });
    }
    if (i > 0 && sorted[i - 1]!.classId === p.classId) {
      fail('E_CODEC_FIELD', `${ctx}: class ${p.classId} appears more than once`, { classId: p.classId });
    }
    if (!(p.values instanceof Float32Array) || p.values.length !== b.s) {
      const got = p.values instanceof Float32Array ? p.values.length : typeof p.values;
      fail('E_SHAPE', `${ctx}: class ${p.classId} has ${String(got)} values, expected s = ${b.s} (Float32Array)`, {
        classId: p.classId,
        expected: b.s,
        got,
      });
    }
    if (withCounts) checkUint(ctx, `class ${p.classId} contributors`, p.contributors, 0, 0xffff);
  }
  return sorted;
}

export function encodePrototypeBody(ctx: string, b: PrototypeBodyInput, withCounts: boolean): Uint8Array {
  const sorted = checkPrototypeBody(ctx, b, withCounts);
  const samples = withCounts ? null : checkTrainSamples(ctx, b.trainSamples);
  const size = prototypeBodySize(b.K, sorted.length, b.s, b.valueType, withCounts, samples !== null);
  const w = new Writer(size);
  w.u16(b.K);
  w.u16(b.d);
  w.u16(b.s);
  w.u8(enumIndex(ctx, 'layout', LAYOUTS, b.layout) | (samples !== null ? UPLOAD_FLAG_TRAIN_SAMPLES : 0));
  w.u8(enumIndex(ctx, 'value type', VALUE_TYPES, b.valueType));
  if (samples !== null) w.u32(samples);
  const bitmap = new Uint8Array(Math.ceil(b.K / 8));
  for (const p of sorted) bitmap[p.classId >> 3] = bitmap[p.classId >> 3]! | (1 << (p.classId & 7));
  w.bytes(bitmap);
  for (const p of sorted) {
    const v = p.values;
    for (let i = 0; i < v.length; i++) {
      if (!Number.isFinite(v[i]!)) {
        fail('E_NON_FINITE', `${ctx}: class ${p.classId} value ${i} is not finite (${v[i]})`, {
          classId: p.classId,
          index: i,
          got: v[i],
        });
      }
    }
    if (withCounts) w.u16(p.contributors!);
    switch (b.valueType) {
      case 'float32':
        for (let i = 0; i < v.length; i++) w.f32(v[i]!);
        break;
      case 'float16':
        for (let i = 0; i < v.length; i++) {
          const h = float32ToFloat16Bits(v[i]!);
          if ((h & 0x7c00) === 0x7c00) {
            fail('E_NON_FINITE', `${ctx}: class ${p.classId} value ${i} = ${v[i]} overflows float16 (max ${FLOAT16_MAX})`, {
              classId: p.classId,
              index: i,
              got: v[i],
            });
          }
          w.u16(h);
        }
        break;
      case 'int8': {
        const scale = int8Scale(v);
        w.f32(scale);
        for (let i = 0; i < v.length; i++) w.i8(quantizeInt8(v[i]!, scale));
        break;
      }
    }
  }
  return w.finish();
}

export interface DecodedPrototypeBody {
  K: number;
  d: number;
  s: number;
  layout: Layout;
  valueType: ValueType;
  prototypes: GlobalClassValues[];
  /** UPLOAD only, present when the upload reports it. */
  trainSamples?: number;
}

/** Reads K, d and s (u16 each), checks them and what the caller expects. */
export function readShape(r: Reader, e: DecodeExpect): { K: number; d: number; s: number } {
  const ctx = r.ctx;
  const K = r.u16('K');
  const d = r.u16('d');
  const s = r.u16('s');
  if (K < 1) fail('E_SHAPE', `${ctx}: K must be >= 1, got 0`, { got: K });
  if (d < 1) fail('E_SHAPE', `${ctx}: d must be >= 1, got 0`, { got: d });
  if (s < 1) fail('E_SHAPE', `${ctx}: s must be >= 1, got 0`, { got: s });
  if (s > d) fail('E_SHAPE', `${ctx}: s = ${s} exceeds d = ${d}`, { s, d });
  checkShapeExpect(ctx, { K, d, s }, e);
  return { K, d, s };
}

export function decodePrototypeBody(r: Reader, e: DecodeExpect, withCounts: boolean): DecodedPrototypeBody {
  const ctx = r.ctx;
  const { K, d, s } = readShape(r, e);
  const layoutByte = r.u8('layout');
  // bit 7 of an UPLOAD's layout byte: its training-sample count follows (GLOBAL has no such bit)
  const hasSamples = !withCounts && (layoutByte & UPLOAD_FLAG_TRAIN_SAMPLES) !== 0;
  const layout = enumName(ctx, 'layout', LAYOUTS, hasSamples ? layoutByte & ~UPLOAD_FLAG_TRAIN_SAMPLES : layoutByte);
  const valueType = enumName(ctx, 'value type', VALUE_TYPES, r.u8('value type'));
  if (layout === 'dense' && s !== d) {
    fail('E_SHAPE', `${ctx}: dense layout needs s = d, got s = ${s}, d = ${d}`, { s, d });
  }
  let trainSamples: number | null = null;
  if (hasSamples) {
    trainSamples = r.u32('training-sample count');
    if (trainSamples < 1 || trainSamples > MAX_TRAIN_SAMPLES) {
      fail('E_CODEC_FIELD', `${ctx}: training-sample count ${trainSamples} is outside 1..${MAX_TRAIN_SAMPLES}`, { got: trainSamples });
    }
  }
  const bitmap = r.bytes(Math.ceil(K / 8), 'class-presence bitmap');
  const tailBits = K & 7;
  if (tailBits !== 0) {
    const last = bitmap[bitmap.length - 1]!;
    if (last >> tailBits !== 0) {
      fail('E_SHAPE', `${ctx}: presence bitmap has bits set beyond K = ${K} (last byte ${hex2(last)})`, {
        K,
        lastByte: last,
      });
    }
  }
  const present: number[] = [];
  for (let j = 0; j < K; j++) if ((bitmap[j >> 3]! >> (j & 7)) & 1) present.push(j);
  const per = perClassBytes(s, valueType, withCounts);
  const needed = present.length * per;
  r.need(needed, `${present.length} present classes x ${per} bytes`);
  if (r.remaining > needed) r.finish(needed); // reports the disagreement as E_CODEC_TRAILING
  const prototypes: GlobalClassValues[] = new Array<GlobalClassValues>(present.length);
  for (let n = 0; n < present.length; n++) {
    const classId = present[n]!;
    const contributors = withCounts ? r.u16At() : 0;
    const values = new Float32Array(s);
    if (valueType === 'float32') readFloat32Run(r, values, classId);
    else if (valueType === 'float16') readFloat16Run(r, values, classId);
    else readInt8Run(r, values, classId);
    prototypes[n] = withCounts ? { classId, contributors, values } : ({ classId, values } as GlobalClassValues);
  }
  r.finish();
  return trainSamples === null ? { K, d, s, layout, valueType, prototypes } : { K, d, s, layout, valueType, prototypes, trainSamples };
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function nonFinite(ctx: string, classId: number, i: number, what: string, got: number): never {
  return fail('E_NON_FINITE', `${ctx}: class ${classId} ${what} is not finite (${got})`, { classId, index: i, got });
}

/**
 * The hot path of every upload: s little-endian float32 values, copied in one block on a
 * little-endian machine (the wire order), then checked finite. No closure, no per-value call.
 */
function readFloat32Run(r: Reader, values: Float32Array, classId: number): void {
  const s = values.length;
  if (LITTLE_ENDIAN) {
    new Uint8Array(values.buffer, values.byteOffset, s * 4).set(r.buf.subarray(r.pos, r.pos + s * 4));
    r.pos += s * 4;
  } else {
    for (let i = 0; i < s; i++) values[i] = r.f32At();
  }
  for (let i = 0; i < s; i++) {
    const x = values[i]!;
    // x - x is 0 for every finite x and NaN for NaN and +-Infinity
    if (x - x !== 0) nonFinite(r.ctx, classId, i, `value ${i}`, x);
  }
}

function readFloat16Run(r: Reader, values: Float32Array, classId: number): void {
  for (let i = 0; i < values.length; i++) {
    const x = float16BitsToFloat32(r.u16At());
    if (!Number.isFinite(x)) nonFinite(r.ctx, classId, i, `value ${i}`, x);
    values[i] = x;
  }
}

function readInt8Run(r: Reader, values: Float32Array, classId: number): void {
  const ctx = r.ctx;
  const scale = r.f32At();
  if (!Number.isFinite(scale)) nonFinite(ctx, classId, -1, 'int8 scale', scale);
  if (scale < 0) fail('E_CODEC_FIELD', `${ctx}: class ${classId} int8 scale ${scale} is negative`, { classId, got: scale });
  for (let i = 0; i < values.length; i++) {
    const q = r.i8At();
    if (q === -128) fail('E_CODEC_FIELD', `${ctx}: class ${classId} value ${i} is int8 -128 (allowed -127..127)`, { classId, index: i });
    const x = Math.fround(q * scale);
    if (!Number.isFinite(x)) nonFinite(ctx, classId, i, `value ${i}`, x);
    values[i] = x;
  }
}

/** Expected K / d / s (E_SHAPE). */
export function checkShapeExpect(ctx: string, got: { K: number; d: number; s: number }, e: DecodeExpect): void {
  for (const key of ['K', 'd', 's'] as const) {
    const want = e[key];
    if (want !== undefined && got[key] !== want) {
      fail('E_SHAPE', `${ctx}: ${key} = ${got[key]} does not match expected ${key} = ${want}`, {
        field: key,
        expected: want,
        got: got[key],
      });
    }
  }
}
