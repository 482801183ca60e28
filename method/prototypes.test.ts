import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classPrototypes, scaledSparsePrototypes, densePrototypes, assertFinite } from './prototypes.ts';
import { makeClassMasks, expandPrototype } from '../wire/masks.ts';
import { isTinyProtoError } from '../common/errors.ts';

// 5 samples, d = 2, K = 3 (class 2 absent)
const features = Float32Array.from([1, 2, 3, 4, 10, 20, 5, 6, 30, 40]);
const labels = Int32Array.from([0, 0, 1, 0, 1]);

test('classPrototypes: counts, sums, means on a hand-computed example', () => {
  const p = classPrototypes(features, labels, 5, 2, 3);
  assert.deepEqual(Array.from(p.counts), [3, 2, 0]);
  assert.deepEqual(Array.from(p.sums), [9, 12, 40, 60, 0, 0]);
  assert.deepEqual(Array.from(p.means), [3, 4, 20, 30, 0, 0]);
});

test('classPrototypes accumulates in float64', () => {
  const n = 1_000_001;
  const f = new Float32Array(n).fill(0.1);
  f[0] = 1e7; // float32 accumulation would lose the 0.1s entirely
  const p = classPrototypes(f, new Int32Array(n), n, 1, 2);
  const expected = (1e7 + 1e6 * Math.fround(0.1)) / n;
  assert.ok(Math.abs(p.means[0]! - expected) / expected < 1e-6);
});

test('classPrototypes validates shapes, labels and finiteness', () => {
  const isShape = (e: unknown) => isTinyProtoError(e, 'E_SHAPE');
  assert.throws(() => classPrototypes(features, labels, 5, 3, 3), isShape);
  assert.throws(() => classPrototypes(features, Int32Array.from([0, 0, 1]), 5, 2, 3), isShape);
  assert.throws(() => classPrototypes(features, Int32Array.from([0, 0, 3, 0, 1]), 5, 2, 3), isShape);
  const bad = features.slice();
  bad[3] = Number.NaN;
  assert.throws(() => classPrototypes(bad, labels, 5, 2, 3), (e: unknown) => isTinyProtoError(e, 'E_NON_FINITE'));
});

test('scaledSparsePrototypes = count * mean restricted to the mask; dense upload keeps d values', () => {
  const K = 3;
  const d = 12;
  const n = 7;
  const f = Float32Array.from({ length: n * d }, (_, i) => (i % 5) - 1.25 + i / 10);
  const y = Int32Array.from([0, 2, 0, 2, 2, 0, 0]); // class 1 absent
  const p = classPrototypes(f, y, n, d, K);
  const masks = makeClassMasks({ numClasses: K, featureDim: d, ratio: 0.34, seed: 1 });
  assert.equal(masks.s, 4);
  const up = scaledSparsePrototypes(p.means, p.counts, masks);
  assert.deepEqual([...up.keys()], [0, 2]);
  for (const [j, v] of up) {
    assert.equal(v.length, masks.s);
    const idx = masks.indices[j]!;
    for (let t = 0; t < idx.length; t++) {
      const want = p.counts[j]! * p.means[j * d + idx[t]!]!;
      assert.ok(Math.abs(v[t]! - want) < 1e-4);
      // n * mean == sum
      assert.ok(Math.abs(v[t]! - p.sums[j * d + idx[t]!]!) < 1e-4);
    }
    // expanding gives zeros off the mask
    const e = expandPrototype(v, idx, d);
    for (let t = 0; t < d; t++) if (!masks.masks[j * d + t]) assert.equal(e[t], 0);
  }
  const dense = densePrototypes(p.means, p.counts, d);
  assert.deepEqual([...dense.keys()], [0, 2]);
  assert.deepEqual(dense.get(2), p.means.slice(2 * d, 3 * d));
  // the upload is a copy, not a view
  dense.get(0)![0] = 999;
  assert.notEqual(p.means[0], 999);
});

test('assertFinite', () => {
  assertFinite(Float32Array.from([0, -1, 3.5]), 'ok');
  for (const bad of [Number.NaN, Infinity, -Infinity]) {
    assert.throws(
      () => assertFinite(Float32Array.from([1, bad]), 'x'),
      (e: unknown) => isTinyProtoError(e, 'E_NON_FINITE'),
    );
  }
});

test('classSpreads: each class about its own mean on its own support; the median for a class with fewer than 2 samples', async () => {
  const { classPrototypes, classSpreads } = await import('./prototypes.ts');
  const d = 2;
  const K = 3;
  // class 0: (0, 1), (2, 5); class 1: (5, 3), (5, 7), (5, 5); class 2: one sample
  const features = Float32Array.from([0, 1, 2, 5, 5, 3, 5, 7, 5, 5, 9, 9]);
  const labels = Int32Array.from([0, 0, 1, 1, 1, 2]);
  const { means } = classPrototypes(features, labels, 6, d, K);
  // all d: class 0 (1 + 4 + 1 + 4) / 2 = 5, class 1 (4 + 4 + 0) / 3 = 8/3, class 2 the median of the two
  const all = classSpreads(features, labels, d, means, null);
  assert.deepEqual([...all].map((x) => Math.round(x * 1e6) / 1e6), [5, 2.666667, 3.833333]);
  // on masks (class 0: dim 0; classes 1 and 2: dim 1): class 0 (1 + 1) / 2 = 1, class 1 8/3
  const masked = classSpreads(features, labels, d, means, [Int32Array.from([0]), Int32Array.from([1]), Int32Array.from([1])]);
  assert.deepEqual([...masked].map((x) => Math.round(x * 1e6) / 1e6), [1, 2.666667, 1.833333]);
  // a class that never varies keeps a spread that can divide
  const flat = classSpreads(Float32Array.from([1, 1, 1, 1, 0, 0, 2, 2]), Int32Array.from([0, 0, 1, 1]), d, classPrototypes(Float32Array.from([1, 1, 1, 1, 0, 0, 2, 2]), Int32Array.from([0, 0, 1, 1]), 4, d, 2).means, null);
  assert.ok(flat[0]! > 0 && Number.isFinite(1 / flat[0]!), String(flat[0]));
  assert.throws(() => classSpreads(features.subarray(1), labels, d, means, null), /expected n\*d = 12/);
  assert.throws(() => classSpreads(features, Int32Array.from([0, 0, 1, 1, 1, 7]), d, means, null), /label 7 at sample 5 is outside \[0, 3\)/);
});
