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
