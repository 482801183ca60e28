/**
 * IEEE 754 binary16 ("half") conversion; Node 20 has no Float16Array / Math.f16round.
 *
 * Layout: 1 sign bit, 5 exponent bits (bias 15), 10 fraction bits.
 *   exponent 1..30: (-1)^sign * 2^(e-15) * (1 + f/1024)
 *   exponent 0:     (-1)^sign * 2^-14 * (f/1024)   (zero and subnormals)
 *   exponent 31:    f = 0 -> +/-Infinity, f != 0 -> NaN
 * float32 -> half rounds to nearest, ties to even; magnitudes that round past 65504 become
 * Infinity; NaN becomes the quiet NaN 0x7E00 (sign kept).
 */

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** Largest finite half value. */
export const FLOAT16_MAX = 65504;

/** Half-precision bit pattern (0..0xFFFF) nearest to Math.fround(v), ties to even. */
export function float32ToFloat16Bits(v: number): number {
  f32[0] = v;
  const x = u32[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return mant !== 0 ? sign | 0x7e00 : sign | 0x7c00;
  const e = exp - 112; // rebias 127 -> 15
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Half subnormal (or zero): value = m * 2^-24 with m = full >> (14 - e).
    if (e < -10) return sign; // below half the smallest subnormal (or exactly half of it: tie to 0)
    const full = mant | 0x800000;
    const shift = 14 - e; // 14..24
    let m = full >>> shift;
    const rem = full & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && (m & 1) === 1)) m++;
    return sign | m; // m may reach 0x400 = smallest normal, which is the right encoding
  }
  let h = sign | (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1) === 1)) h++; // carries into the exponent (up to Inf)
  return h;
}

/** The value of a half-precision bit pattern (exact as a JS number and as a float32). */
export function float16BitsToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 0x1f) return f !== 0 ? NaN : sign * Infinity;
  return sign * (1024 + f) * 2 ** (e - 25);
}

/** Round a number to the nearest half-precision value (via float32 first). */
export function float16Round(v: number): number {
  return float16BitsToFloat32(float32ToFloat16Bits(v));
}
