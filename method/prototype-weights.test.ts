import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classBalanceFactors, prototypeTermWeights } from './prototype-weights.ts';

// K = 3, d = 6; class j's mask = dimensions 2j and 2j + 1 (s = 2, d / s = 3)
const K = 3;
const d = 6;
const maskIndices = [Int32Array.from([0, 1]), Int32Array.from([2, 3]), Int32Array.from([4, 5])];
const base = { numClasses: K, featureDim: d, maskIndices, masked: true, offMaskWeight: 0, relative: null, classBalance: null };
const hasGlobal = Uint8Array.from([1, 1, 0]);

test("the paper's loss (full support, fixed lambda) has no weights: the engines' 0/1 flags", () => {
  assert.equal(prototypeTermWeights(hasGlobal, { ...base, masked: false }), null);
  assert.equal(prototypeTermWeights(hasGlobal, { ...base, maskIndices: null }), null, 'no masks (FedProto): full support');
});

test('masked loss: d / s on the mask, 0 off it and for a class without a global prototype', () => {
  const w = prototypeTermWeights(hasGlobal, base)!;
  assert.deepEqual([...w], [3, 3, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0]);
});

test('offMaskWeight b: b * d / s on every dimension off the mask, the mask unchanged', () => {
  const w = prototypeTermWeights(hasGlobal, { ...base, offMaskWeight: 0.5 })!;
  assert.deepEqual([...w], [3, 3, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5, 3, 3, 1.5, 1.5, 0, 0, 0, 0, 0, 0]);
  // b = 1 weighs every dimension alike: the paper's loss (all d) at d / s times its strength
  const one = prototypeTermWeights(hasGlobal, { ...base, offMaskWeight: 1 })!;
  assert.deepEqual([...one.slice(0, 12)], Array(12).fill(3));
});

test('relative rule: each class divided by the mean square of its own class mean on the support', () => {
  // class 0 mean (1, 1, 9, 9, 9, 9): mean square on its mask 1; class 1 mean on dims 2-3 (2, 2): 4
  const means = Float32Array.from([1, 1, 9, 9, 9, 9, 5, 5, 2, 2, 5, 5, 0, 0, 0, 0, 0, 0]);
  const counts = Int32Array.from([4, 2, 0]);
  const masked = prototypeTermWeights(hasGlobal, { ...base, offMaskWeight: 0.5, relative: { means, counts } })!;
  assert.deepEqual([...masked.slice(0, 12)], [3, 3, 1.5, 1.5, 1.5, 1.5, 0.375, 0.375, 0.75, 0.75, 0.375, 0.375]);
  // without the mask: K weights, 1 / (mean square over all d); a class the client does not hold weighs 0
  const full = prototypeTermWeights(Uint8Array.from([1, 1, 1]), { ...base, masked: false, relative: { means, counts } })!;
  assert.deepEqual([...full].map((x) => Math.round(x * 1e6) / 1e6), [Math.round((6 / 326) * 1e6) / 1e6, Math.round((6 / 108) * 1e6) / 1e6, 0]);
});

test('classBalance beta: n_j^-beta over the held classes with a global prototype, the total over samples unchanged', () => {
  const counts = Int32Array.from([30, 10, 5]);
  // beta 1: every held class the same share; class 2 has no global prototype (factor 0)
  assert.deepEqual([...classBalanceFactors(hasGlobal, counts, 1)].map((x) => Math.round(x * 1e6) / 1e6), [Math.round((40 / 60) * 1e6) / 1e6, 2, 0]);
  for (const beta of [0, 0.5, 1]) {
    const f = classBalanceFactors(hasGlobal, counts, beta);
    assert.ok(Math.abs(30 * f[0]! + 10 * f[1]! - 40) < 1e-4, `beta ${beta}: the term's total over samples is kept`);
  }
  assert.deepEqual([...classBalanceFactors(hasGlobal, counts, 0)].slice(0, 2), [1, 1], 'beta 0: no change');
  assert.deepEqual([...classBalanceFactors(Uint8Array.from([0, 0, 1]), Int32Array.from([3, 3, 0]), 1)], [0, 0, 0], 'no held class with a global prototype');
  // with the masked loss: the factor multiplies d / s; with the full loss alone: K weights
  const w = prototypeTermWeights(hasGlobal, { ...base, classBalance: { beta: 1, counts } })!;
  assert.deepEqual([...w.slice(0, 2), ...w.slice(8, 10)].map((x) => Math.round(x * 1e5) / 1e5), [2, 2, 6, 6]);
  const full = prototypeTermWeights(hasGlobal, { ...base, masked: false, classBalance: { beta: 1, counts } })!;
  assert.equal(full.length, K);
  assert.equal(prototypeTermWeights(hasGlobal, { ...base, masked: false, classBalance: { beta: 0, counts } }), null, 'beta 0 with the paper loss: the flags');
});
