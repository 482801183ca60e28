import { test } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { crc32, crc32Update } from './crc32.ts';
import { Rng } from '../common/rng.ts';

test('crc32 check value: "123456789" -> 0xCBF43926', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('crc32 of the empty input is 0 and of "a" is 0xE8B7BE43', () => {
  assert.equal(crc32(new Uint8Array(0)), 0);
  assert.equal(crc32(new Uint8Array([0x61])), 0xe8b7be43);
});

test('crc32 agrees with zlib.crc32 on seeded random buffers, with ranges and incremental updates', () => {
  const rng = new Rng(7);
  const zcrc = (zlib as unknown as { crc32?: (b: Uint8Array) => number }).crc32;
  for (let iter = 0; iter < 200; iter++) {
    const b = new Uint8Array(rng.int(300));
    for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
    const c = crc32(b);
    if (zcrc) assert.equal(c, zcrc(b) >>> 0);
    const cut = rng.int(b.length + 1);
    assert.equal(crc32Update(crc32(b, 0, cut), b, cut), c);
    assert.equal(crc32(b, cut), crc32(b.subarray(cut)));
  }
});

test('the sliced JS fallback agrees with the byte-table definition and with zlib.crc32 at every length 0..80', async () => {
  const { crc32UpdateSliced } = await import('./crc32.ts');
  const rng = new Rng(11);
  const b = new Uint8Array(80);
  for (let i = 0; i < b.length; i++) b[i] = rng.int(256);
  // reference: one byte per step, straight from the polynomial
  const ref = (u: Uint8Array): number => {
    let c = 0xffffffff;
    for (const x of u) {
      c ^= x;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    }
    return (c ^ 0xffffffff) >>> 0;
  };
  for (let n = 0; n <= b.length; n++) {
    const sub = b.subarray(0, n);
    assert.equal(crc32UpdateSliced(0, sub), ref(sub), `length ${n}`);
    assert.equal(crc32(sub), ref(sub), `length ${n}`);
    assert.equal(crc32UpdateSliced(crc32UpdateSliced(0, sub, 0, n >> 1), sub, n >> 1), ref(sub));
  }
});
