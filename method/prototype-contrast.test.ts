import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contrastDimWeights, contrastTemperature } from './prototype-contrast.ts';

test('contrastDimWeights: 1 / T on each class mask, 0 off it and for a class without a global prototype', () => {
  const w = contrastDimWeights(Uint8Array.from([1, 0, 1]), 5, [Int32Array.of(0, 3), Int32Array.of(1, 2), Int32Array.of(4)], 2);
  assert.deepEqual([...w], [0.5, 0, 0, 0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0.5]);
  // without masks (FedProto) every dimension of the class
  assert.deepEqual([...contrastDimWeights(Uint8Array.from([1, 1]), 2, null, 4)], [0.25, 0.25, 0.25, 0.25]);
});

test('contrastTemperature: the mean squared distance of own features to their class prototype on its support', () => {
  const d = 2;
  const features = Float32Array.of(1, 5, 3, 0, 9, 9);
  const labels = Int32Array.of(0, 1, 2);
  const prototypes = Float32Array.of(0, 0, 0, 0, 0, 0);
  // class 0 on dim 0: 1; class 1 on dim 1: 0; class 2 has no global prototype
  assert.equal(contrastTemperature(features, labels, d, prototypes, Uint8Array.of(1, 1, 0), [Int32Array.of(0), Int32Array.of(1), Int32Array.of(0)]), 0.5);
  // all d: (1 + 25 + 9 + 0) / 2
  assert.equal(contrastTemperature(features, labels, d, prototypes, Uint8Array.of(1, 1, 0), null), 17.5);
  assert.equal(contrastTemperature(features, labels, d, prototypes, Uint8Array.of(0, 0, 0), null), null);
  assert.equal(contrastTemperature(new Float32Array(6), labels, d, prototypes, Uint8Array.of(1, 1, 1), null), null);
});

test('contrast weights: bad temperature, shapes or labels are clear errors', () => {
  assert.throws(() => contrastDimWeights(Uint8Array.from([1]), 2, null, 0), { code: 'E_CONFIG', message: /temperature is 0/ });
  assert.throws(() => contrastDimWeights(Uint8Array.from([1, 1]), 2, [Int32Array.of(0)], 1), { code: 'E_SHAPE' });
  assert.throws(() => contrastTemperature(new Float32Array(3), Int32Array.of(0), 2, new Float32Array(2), Uint8Array.of(1), null), { code: 'E_SHAPE' });
  assert.throws(() => contrastTemperature(new Float32Array(2), Int32Array.of(4), 2, new Float32Array(2), Uint8Array.of(1), null), { code: 'E_SHAPE', message: /label 4/ });
});
