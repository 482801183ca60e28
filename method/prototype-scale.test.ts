import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchPrototypeScale } from './prototype-scale.ts';

test('local scale: each held class keeps its direction at the norm of the client\'s own mean on its support', () => {
  const d = 4;
  // class 0 on dims 0-1, class 1 on dims 2-3, class 2 on dims 0-1 (not held by the client)
  const global = Float32Array.from([3, 4, 0, 0, 0, 0, 0.6, 0.8, 1, 0, 0, 0]);
  const has = Uint8Array.from([1, 1, 1]);
  const means = Float32Array.from([6, 8, 100, 100, 0, 0, 3, 4, 0, 0, 0, 0]);
  const counts = Int32Array.from([5, 2, 0]);
  const out = matchPrototypeScale(global, has, means, counts, d);
  // class 0: |P| = 5 on dims 0-1, own mean there has norm 10 (dims 2-3 do not count): factor 2
  assert.deepEqual([...out.slice(0, 4)], [6, 8, 0, 0]);
  // class 1: |P| = 1, own norm on dims 2-3 = 5: factor 5
  assert.deepEqual([...out.slice(4, 8)].map((x) => Math.round(x * 1e6) / 1e6), [0, 0, 3, 4]);
  // class 2 is not held: the median of the held factors (2 and 5) = 3.5
  assert.deepEqual([...out.slice(8, 12)], [3.5, 0, 0, 0]);
  assert.deepEqual([...global.slice(0, 2)], [3, 4], 'the input is untouched');
});

test('local scale: classes without a global prototype stay zero; a client holding nothing keeps the server scale', () => {
  const out = matchPrototypeScale(Float32Array.from([2, 0, 0, 0]), Uint8Array.from([1, 0]), new Float32Array(4), Int32Array.from([0, 0]), 2);
  assert.deepEqual([...out], [2, 0, 0, 0]);
});
