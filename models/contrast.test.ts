import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contrastInputs, prototypeContrastLoss, UNAVAILABLE_SCORE } from './contrast.ts';
import { Rng } from '../common/rng.ts';

const K = 4;
const d = 6;

function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal() * scale);
}

const prototypes = randn(K * d, 1);
const dimWeights = Float32Array.from({ length: K * d }, (_, k) => (k % d) % 2 === 0 ? 0.8 : 0);
const available = Uint8Array.from([1, 1, 0, 1]);
const inputs = contrastInputs(K, d, { weight: 0.5, prototypes, dimWeights, available });

test('contrastInputs: W, W*P, c = sum W P^2, and a large c for a class that is not a candidate', () => {
  assert.equal(inputs.gamma, 0.5);
  for (let j = 0; j < K; j++) {
    let c = 0;
    for (let k = 0; k < d; k++) {
      const i = j * d + k;
      const w = available[j] === 1 ? dimWeights[i]! : 0;
      assert.equal(inputs.w[i], w);
      assert.ok(Math.abs(inputs.wp[i]! - w * prototypes[i]!) < 1e-6);
      c += w * prototypes[i]! ** 2;
    }
    assert.ok(Math.abs(inputs.c[j]! - (available[j] === 1 ? c : UNAVAILABLE_SCORE)) < 1e-4, `c[${j}]`);
    assert.equal(inputs.available[j], available[j]);
  }
  const off = contrastInputs(K, d, null);
  assert.equal(off.gamma, 0);
  assert.ok(off.w.every((v) => v === 0) && off.available.every((v) => v === 0));
});

test('contrastInputs: bad shapes, weights and values are E_SHAPE / E_CONFIG', () => {
  assert.throws(() => contrastInputs(K, d, { weight: 1, prototypes: new Float32Array(3), dimWeights, available }), { code: 'E_SHAPE' });
  assert.throws(() => contrastInputs(K, d, { weight: -1, prototypes, dimWeights, available }), { code: 'E_CONFIG' });
  const nan = Float32Array.from(prototypes);
  nan[2] = Number.NaN;
  assert.throws(() => contrastInputs(K, d, { weight: 1, prototypes: nan, dimWeights, available }), { code: 'E_CONFIG' });
});

test('prototypeContrastLoss: the scores are -sum W (f - P)^2, the loss their cross-entropy', () => {
  const f = randn(d, 2);
  const { loss } = prototypeContrastLoss(f, Int32Array.of(1), d, inputs);
  const z = [0, 1, 3].map((j) => {
    let s = 0;
    for (let k = 0; k < d; k++) s -= dimWeights[j * d + k]! * (f[k]! - prototypes[j * d + k]!) ** 2;
    return s;
  });
  const expected = -(z[1]! - Math.log(z.reduce((a, v) => a + Math.exp(v), 0)));
  assert.ok(Math.abs(loss - expected) < 1e-5, `${loss} vs ${expected}`);
});

test('prototypeContrastLoss: its gradient matches central differences; a non-candidate class adds nothing', () => {
  const n = 5;
  const f = randn(n * d, 3);
  const y = Int32Array.from([0, 1, 2, 3, 1]);
  const { grad } = prototypeContrastLoss(f, y, d, inputs);
  const h = 1e-3;
  for (let i = 0; i < n * d; i++) {
    const up = Float32Array.from(f);
    const down = Float32Array.from(f);
    up[i] = up[i]! + h;
    down[i] = down[i]! - h;
    const numeric = (inputs.gamma * (prototypeContrastLoss(up, y, d, inputs).loss - prototypeContrastLoss(down, y, d, inputs).loss)) / (2 * h);
    assert.ok(Math.abs(numeric - grad[i]!) < 2e-3 * Math.max(1, Math.abs(numeric)), `grad[${i}]: ${grad[i]} vs ${numeric}`);
  }
  // the class-2 sample (not a candidate): zero gradient on its row
  for (let k = 2 * d; k < 3 * d; k++) assert.equal(grad[k], 0);
});
