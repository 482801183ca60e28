import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classScales, spread } from './diagnostics.ts';

test('class scales: count-weighted local norms, the received norm, their ratio and mu * n_j', () => {
  const clients = [
    { counts: Int32Array.from([3, 0, 1]), meanNorms: Float32Array.from([2, 0, 4]), maskedNorms: Float32Array.from([1, 0, 4]) },
    { counts: Int32Array.from([1, 0, 0]), meanNorms: Float32Array.from([6, 0, 0]), maskedNorms: Float32Array.from([6, 0, 0]) },
  ];
  const received = new Map([[0, Float32Array.from([3, 4])]]);
  const s = classScales(clients, received, 0.1, 3);
  assert.deepEqual(s.map((c) => c.classId), [0, 2]); // class 1: nobody holds it
  assert.equal(s[0]!.samples, 4);
  assert.equal(s[0]!.localNorm, (3 * 2 + 1 * 6) / 4);
  assert.equal(s[0]!.onMask, (3 * 0.5 + 1 * 1) / 4);
  assert.equal(s[1]!.onMask, 1);
  assert.equal(s[0]!.globalNorm, 5);
  assert.equal(s[0]!.ratio, 5 / 3);
  assert.ok(Math.abs(s[0]!.muScale! - 0.4) < 1e-12);
  assert.equal(s[1]!.globalNorm, null);
  assert.equal(s[1]!.ratio, null);
  assert.equal(classScales(clients, null, null, 3)[0]!.muScale, null);
  assert.deepEqual(spread([1, null, 3]), { min: 1, mean: 2, max: 3 });
  assert.equal(spread([null]), null);
});
