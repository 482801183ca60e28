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
