/**
 * Little-endian byte reader/writer and the small validation helpers every codec part shares.
 * Internal to the codec (not exported from wire/codec.ts).
 */
import { TinyProtoError, type ErrorCode } from '../common/errors.ts';
import { ID_MAX_LENGTH } from './codec-types.ts';

export function fail(code: ErrorCode, message: string, details?: Record<string, unknown>): never {
  throw new TinyProtoError(code, message, details);
}

export function hex8(v: number): string {
  return `0x${(v >>> 0).toString(16).padStart(8, '0')}`;
}

export function hex2(v: number): string {
  return `0x${v.toString(16).padStart(2, '0')}`;
}

function isIdChar(c: number): boolean {
  return (
    (c >= 0x30 && c <= 0x39) || // 0-9
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x61 && c <= 0x7a) || // a-z
    c === 0x2e || // .
    c === 0x5f || // _
    c === 0x2d // -
  );
}

/** Check an identifier (string) for the encoder: minLength..32 chars of [A-Za-z0-9._-]. */
export function checkIdString(ctx: string, what: string, id: unknown, minLength = 1): string {
  if (typeof id !== 'string') fail('E_CODEC_FIELD', `${ctx}: ${what} must be a string, got ${typeof id}`, { got: id });
  if (id.length < minLength || id.length > ID_MAX_LENGTH) {
    fail('E_CODEC_FIELD', `${ctx}: ${what} has ${id.length} characters, must be ${minLength}..${ID_MAX_LENGTH}`, {
      got: id.length,
      min: minLength,
      max: ID_MAX_LENGTH,
    });
  }
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (!isIdChar(c)) {
      fail(
        'E_CODEC_FIELD',
        `${ctx}: ${what} contains invalid character ${hex2(c)} at position ${i} (allowed: A-Za-z0-9._-)`,
        { got: id, position: i },
      );
    }
  }
  return id;
}

/** Check identifier bytes from the wire and return them as a string. */
export function idFromBytes(ctx: string, what: string, bytes: Uint8Array, minLength = 1): string {
  if (bytes.length < minLength || bytes.length > ID_MAX_LENGTH) {
    fail('E_CODEC_FIELD', `${ctx}: ${what} has ${bytes.length} characters, must be ${minLength}..${ID_MAX_LENGTH}`, {
      got: bytes.length,
      min: minLength,
      max: ID_MAX_LENGTH,
    });
  }
  let s = '';
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if (!isIdChar(c)) {
      fail(
        'E_CODEC_FIELD',
        `${ctx}: ${what} contains invalid character ${hex2(c)} at position ${i} (allowed: A-Za-z0-9._-)`,
        { position: i, byte: c },
      );
    }
    s += String.fromCharCode(c);
  }
  return s;
}

/** Encoder check: an integer in [min, max]. */
export function checkUint(ctx: string, what: string, v: unknown, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail('E_CODEC_FIELD', `${ctx}: ${what} must be an integer in [${min}, ${max}], got ${String(v)}`, {
      got: v,
      min,
      max,
    });
  }
  return v;
}

/** Index of `v` in an enum list, or an E_CODEC_FIELD error. */
export function enumIndex<T extends string>(ctx: string, what: string, list: readonly T[], v: unknown): number {
  const i = list.indexOf(v as T);
  if (i < 0) fail('E_CODEC_FIELD', `${ctx}: ${what} must be one of ${list.join(', ')}, got ${String(v)}`, { got: v });
  return i;
}

/** Decoder: the enum name for a wire byte, or an E_CODEC_FIELD error. */
export function enumName<T extends string>(ctx: string, what: string, list: readonly T[], v: number): T {
  const name = list[v];
  if (name === undefined) {
    fail('E_CODEC_FIELD', `${ctx}: ${what} ${v} is not defined (0..${list.length - 1})`, { got: v });
  }
  return name;
}

/** The shortest decimal that rounds to the same float32 as `v` (so 0.1 survives a float32 hop). */
export function shortestFloat32(v: number): number {
  const f = Math.fround(v);
  if (!Number.isFinite(f) || f === 0) return f;
  for (let p = 1; p <= 9; p++) {
    const c = Number(f.toPrecision(p));
    if (Math.fround(c) === f) return c;
  }
  return f;
}

/** Growable little-endian writer. */
export class Writer {
  private buf: Uint8Array;
  private view: DataView;
  pos = 0;

  constructor(capacity = 256) {
    this.buf = new Uint8Array(Math.max(16, capacity));
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.pos + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): void {
    this.ensure(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v, true);
    this.pos += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v, true);
    this.pos += 4;
  }
  i8(v: number): void {
    this.ensure(1);
    this.view.setInt8(this.pos, v);
    this.pos += 1;
  }
  f32(v: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, v, true);
    this.pos += 4;
  }
  f64(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v, true);
    this.pos += 8;
  }
  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** u8 length + ASCII (caller validated the characters). */
  shortAscii(s: string): void {
    this.u8(s.length);
    this.ensure(s.length);
    for (let i = 0; i < s.length; i++) this.buf[this.pos + i] = s.charCodeAt(i);
    this.pos += s.length;
  }
  finish(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }
}

/**
 * Little-endian reader over the payload [start, end) of a message. Running past `end` is
 * E_CODEC_TRUNCATED ("truncated: <what> needs n bytes at payload offset o, r remain").
 */
export class Reader {
  private readonly view: DataView;
  pos: number;

  constructor(
    readonly buf: Uint8Array,
    readonly ctx: string,
    readonly start: number,
    readonly end: number,
  ) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.pos = start;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  need(n: number, what: string): void {
    if (n > this.end - this.pos) {
      fail(
        'E_CODEC_TRUNCATED',
        `${this.ctx}: truncated: ${what} needs ${n} bytes at payload offset ${this.pos - this.start}, ${this.end - this.pos} remain`,
        { needed: n, available: this.end - this.pos, offset: this.pos - this.start },
      );
    }
  }

  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.pos++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f32(what: string): number {
    this.need(4, what);
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  f64(what: string): number {
    this.need(8, what);
    const v = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return v;
  }
  /** Unchecked reads: the caller has already called need() for the whole run. */
  f32At(): number {
    const v = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return v;
  }
  u16At(): number {
    const v = this.view.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  i8At(): number {
    return this.view.getInt8(this.pos++);
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  shortId(what: string, minLength = 1): string {
    const n = this.u8(`${what} length`);
    return idFromBytes(this.ctx, what, this.bytes(n, what), minLength);
  }
  /** The body must use the payload exactly; `more` = bytes the body still declares beyond pos. */
  finish(more = 0): void {
    const used = this.pos - this.start + more;
    if (used !== this.end - this.start) {
      fail('E_CODEC_TRAILING', `${this.ctx}: payload declares ${this.end - this.start} bytes but the body uses ${used}`, {
        declared: this.end - this.start,
        used,
      });
    }
  }
}

const TWO_32 = 2 ** 32;

/** u64 LE from an integer in [0, 2^53 - 1] (the caller has checked the range). */
export function u64(w: Writer, v: number): void {
  w.u32(v % TWO_32);
  w.u32(Math.floor(v / TWO_32));
}

/** u64 LE that must be an integer in [0, 2^53 - 1] (high word at most 0x001fffff). */
export function readU64(r: Reader, what: string): number {
  r.need(8, what);
  const lo = r.u32(what);
  const hi = r.u32(what);
  if (hi > 0x1fffff) {
    const got = ((BigInt(hi) << 32n) | BigInt(lo)).toString();
    fail('E_CODEC_FIELD', `${r.ctx}: ${what} must be an integer in [0, ${Number.MAX_SAFE_INTEGER}], got ${got}`, { got, min: 0, max: Number.MAX_SAFE_INTEGER });
  }
  return hi * TWO_32 + lo;
}
