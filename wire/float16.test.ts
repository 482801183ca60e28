import { test } from 'node:test';
import assert from 'node:assert/strict';
import { float16BitsToFloat32, float16Round, float32ToFloat16Bits, FLOAT16_MAX } from './float16.ts';
import { Rng } from '../common/rng.ts';

test('float16 known encodings', () => {
  const cases: Array<[number, number]> = [
    [0, 0x0000],
    [-0, 0x8000],
    [1, 0x3c00],
    [-2, 0xc000],
    [0.5, 0x3800],
    [65504, 0x7bff], // max finite
    [65519.99, 0x7bff], // just below the rounding boundary
    [65520, 0x7c00], // halfway to 2^16 rounds (to even) to Infinity
    [Infinity, 0x7c00],
    [-Infinity, 0xfc00],
    [2 ** -14, 0x0400], // smallest normal
    [2 ** -24, 0x0001], // smallest subnormal
    [2 ** -25, 0x0000], // tie between 0 and 2^-24: even -> 0
    [1.5 * 2 ** -25, 0x0001],
    [3 * 2 ** -25, 0x0002], // tie between 1 and 2 subnormal units: even -> 2
    [2 ** -26, 0x0000],
    [1023 * 2 ** -24, 0x03ff], // largest subnormal
    [1 / 3, 0x3555],
    [0.1, 0x2e66],
    [1 + 2 ** -11, 0x3c00], // tie: even mantissa 0
    [1 + 3 * 2 ** -11, 0x3c02], // tie: rounds up to even mantissa 2
    [2049, 0x6800], // tie at 2048 + 1: even -> 2048
    [2051, 0x6802], // tie: -> 2052
  ];
  for (const [v, h] of cases) assert.equal(float32ToFloat16Bits(v), h, `encode ${v}`);
  assert.equal(float32ToFloat16Bits(NaN), 0x7e00);
  assert.equal(float16BitsToFloat32(0x7bff), FLOAT16_MAX);
  assert.ok(Number.isNaN(float16BitsToFloat32(0x7e00)));
  assert.ok(Number.isNaN(float16BitsToFloat32(0xfc01)));
  assert.equal(float16BitsToFloat32(0xfc00), -Infinity);
  assert.ok(Object.is(float16BitsToFloat32(0x8000), -0));
  assert.equal(float16BitsToFloat32(0x0001), 2 ** -24);
});

test('float16: every non-NaN bit pattern round-trips exactly', () => {
  for (let h = 0; h < 0x10000; h++) {
    const v = float16BitsToFloat32(h);
    if (Number.isNaN(v)) continue;
    assert.equal(float32ToFloat16Bits(v), h);
    assert.equal(Math.fround(v), v);
  }
});

test('float16: seeded random float32 values round to the nearest half, ties to even', () => {
  const rng = new Rng(11);
  const u = new Uint32Array(1);
  const f = new Float32Array(u.buffer);
  for (let i = 0; i < 20000; i++) {
    // exponents spread across the half range (and a bit beyond) so subnormals and overflow occur
    const e = 127 - 27 + rng.int(45);
    u[0] = ((rng.int(2) << 31) | (e << 23) | rng.int(1 << 23)) >>> 0;
    const x = f[0]!;
    const h = float32ToFloat16Bits(x);
    const y = float16BitsToFloat32(h);
    if (!Number.isFinite(y)) {
      assert.ok(Math.abs(x) >= 65520, `only |x| >= 65520 overflows, x = ${x}`);
      continue;
    }
    const err = Math.abs(y - x);
    // neighbours in magnitude
    for (const nb of [h + 1, h - 1]) {
      if ((nb & 0x7fff) > 0x7bff || (nb & 0x7fff) === 0x7fff || nb < 0 || (nb & 0x8000) !== (h & 0x8000)) continue;
      const z = float16BitsToFloat32(nb);
      const e2 = Math.abs(z - x);
      assert.ok(err < e2 || (err === e2 && (h & 1) === 0), `x=${x} h=${h.toString(16)} nb=${nb.toString(16)}`);
    }
    if (Math.abs(x) >= 2 ** -14) assert.ok(err <= Math.abs(x) * 2 ** -11);
    else assert.ok(err <= 2 ** -25);
  }
  assert.equal(float16Round(3.14159), 3.140625);
});
