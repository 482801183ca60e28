import { test } from 'node:test';
import assert from 'node:assert/strict';
import { headCorrect, prototypeCorrect, weightedAccuracy } from './eval.ts';

test('headCorrect counts argmax matches', () => {
  const logits = new Float32Array([0.1, 0.9, 0, 2, 1, 0, -1, -2, -0.5]);
  assert.equal(headCorrect(logits, new Int32Array([1, 0, 2]), 3), 3);
  assert.equal(headCorrect(logits, new Int32Array([0, 0, 0]), 3), 1);
});

test('prototypeCorrect picks the nearest available prototype by squared distance', () => {
  const d = 2;
  const protos = new Float32Array([0, 0, 10, 10, 5, 5]);
  const features = new Float32Array([1, 1, 9, 9, 5.2, 4.9]);
  const labels = new Int32Array([0, 1, 2]);
  assert.equal(prototypeCorrect(features, labels, d, protos, new Uint8Array([1, 1, 1])), 3);
  // class 2 unavailable: the third sample's nearest available prototype is class 1 (49.05 vs 51.05)
  assert.equal(prototypeCorrect(features, labels, d, protos, new Uint8Array([1, 1, 0])), 2);
  assert.equal(prototypeCorrect(features, labels, d, protos, new Uint8Array([0, 0, 0])), null);
});

test('weightedAccuracy weights by test count; missing values and empty evaluations carry no weight', () => {
  assert.equal(weightedAccuracy([{ count: 100, correct: 50 }, { count: 300, correct: 240 }]), 290 / 400);
  // a missing value: the accuracy of those that have one
  assert.equal(weightedAccuracy([{ count: 100, correct: null }, { count: 300, correct: 240 }]), 0.8);
  // nothing evaluated: null (not 0)
  assert.equal(weightedAccuracy([]), null);
  assert.equal(weightedAccuracy([{ count: 10, correct: null }]), null);
  assert.equal(weightedAccuracy([{ count: 0, correct: 0 }]), null);
  assert.equal(weightedAccuracy([{ count: 0, correct: 0 }, { count: 4, correct: 1 }]), 0.25);
});

test('prototypeCorrectBy: masked distance on each class support; cosine by direction; full and no-mask fall back to prototypeCorrect', async () => {
  const { prototypeCorrectBy } = await import('./eval.ts');
  const d = 4;
  // class 0 lives on dims 0-1, class 1 on dims 2-3 (expanded with zeros off the mask)
  const support = [Int32Array.from([0, 1]), Int32Array.from([2, 3])];
  const all = new Uint8Array([1, 1]);
  const y = new Int32Array([1]);
  // a class-1 sample near P1 on its own dims but with much mass on class 0's dims: the full
  // distance counts that mass against class 1 (18 + 0.5 vs 4.5 + 2), the masked one does not (0.5 vs 2)
  const protos = new Float32Array([4, 4, 0, 0, 0, 0, 1, 1]);
  const f = new Float32Array([3, 3, 1.5, 1.5]);
  assert.equal(prototypeCorrectBy('full', f, y, d, protos, all, support), 0);
  assert.equal(prototypeCorrectBy('full', f, y, d, protos, all, support), prototypeCorrect(f, y, d, protos, all));
  assert.equal(prototypeCorrectBy('masked', f, y, d, protos, all, support), 1);
  // no masks (FedProto): 'masked' is 'full'
  assert.equal(prototypeCorrectBy('masked', f, y, d, protos, all, null), 0);
  // a shrunken P1 (TinyProto's small mu * n_j): the full distance prefers class 0, cosine the direction
  const shrunk = new Float32Array([1, 1, 0, 0, 0, 0, 0.05, 0.05]);
  const g = new Float32Array([0.8, 0.8, 3, 3]);
  assert.equal(prototypeCorrectBy('full', g, y, d, shrunk, all, support), 0);
  assert.equal(prototypeCorrectBy('cosine', g, y, d, shrunk, all, support), 1);
  assert.equal(prototypeCorrectBy('cosine', g, y, d, shrunk, new Uint8Array([0, 0]), support), null);
});

test("prototypeCorrectBy 'spread': the masked distance to class j divided by class j's own spread", async () => {
  const { prototypeCorrectBy } = await import('./eval.ts');
  const d = 4;
  const support = [Int32Array.from([0, 1]), Int32Array.from([2, 3])];
  const all = new Uint8Array([1, 1]);
  const y = new Int32Array([0]);
  const protos = new Float32Array([2, 2, 0, 0, 0, 0, 1, 1]);
  // a class-0 sample 1.5 from P0 on each of its dims, 0.5 from P1: masked picks class 1 (4.5 vs 0.5)
  const f = new Float32Array([0.5, 0.5, 1.5, 1.5]);
  assert.equal(prototypeCorrectBy('masked', f, y, d, protos, all, support), 0);
  // class 0's features scatter 10x more about its mean (spread 8 against 0.8): 0.5625 vs 0.625, class 0
  assert.equal(prototypeCorrectBy('spread', f, y, d, protos, all, support, Float64Array.from([8, 0.8])), 1);
  // equal spreads: the masked rule's choice; no spreads: not measured
  assert.equal(prototypeCorrectBy('spread', f, y, d, protos, all, support, Float64Array.from([3, 3])), 0);
  assert.equal(prototypeCorrectBy('spread', f, y, d, protos, all, support), null);
  // no masks (FedProto): over all d (9 / 8 = 1.125 vs 1 / 0.8 = 1.25: class 0)
  assert.equal(prototypeCorrectBy('spread', f, y, d, protos, all, null, Float64Array.from([8, 0.8])), 1);
  assert.equal(prototypeCorrectBy('spread', f, y, d, protos, new Uint8Array([0, 0]), support, Float64Array.from([1, 1])), null);
});
