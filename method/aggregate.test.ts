import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregateScaled, aggregateMean, expandGlobalPrototypes, muFromTotals } from './aggregate.ts';
import { makeClassMasks } from '../wire/masks.ts';
import { isTinyProtoError } from '../common/errors.ts';

const f = (...xs: number[]) => Float32Array.from(xs);
const clone = (u: Map<number, Float32Array>[]) => u.map((m) => new Map([...m].map(([k, v]) => [k, v.slice()])));

test('aggregateScaled: P_j = mu * sum_i (n_ij p_ij), hand-computed', () => {
  // K = 3, s = 2. Client A: class 0 (n=2, p=[1,2]) and class 1 (n=1, p=[4,4]).
  // Client B: class 0 (n=3, p=[2,1]). Nobody holds class 2.
  const uploads = [
    new Map([
      [0, f(2, 4)],
      [1, f(4, 4)],
    ]),
    new Map([[0, f(6, 3)]]),
  ];
  const before = clone(uploads);
  const r = aggregateScaled(uploads, 0.5, 3, 2);
  assert.deepEqual(Array.from(r.contributors), [2, 1, 0]);
  assert.deepEqual([...r.prototypes.keys()].sort(), [0, 1]);
  assert.deepEqual(r.prototypes.get(0), f(4, 3.5));
  assert.deepEqual(r.prototypes.get(1), f(2, 2));
  assert.deepEqual(uploads, before, 'inputs not mutated');
  assert.notEqual(r.prototypes.get(1), uploads[0]!.get(1));

  // with mu = 1 / sum_i n_ij it is the count-weighted mean: class 0 -> (2*[1,2] + 3*[2,1]) / 5
  const r0 = aggregateScaled(uploads, 1 / 5, 3, 2);
  const w = r0.prototypes.get(0)!;
  assert.ok(Math.abs(w[0]! - 8 / 5) < 1e-6 && Math.abs(w[1]! - 7 / 5) < 1e-6);
});

test('aggregateMean: unweighted mean over holders (FedProto)', () => {
  const uploads = [
    new Map([
      [0, f(1, 2, 3)],
      [2, f(0, 0, 6)],
    ]),
    new Map([[0, f(3, 4, 5)]]),
    new Map<number, Float32Array>(),
  ];
  const before = clone(uploads);
  const r = aggregateMean(uploads, 3, 3);
  assert.deepEqual(Array.from(r.contributors), [2, 0, 1]);
  assert.deepEqual(r.prototypes.get(0), f(2, 3, 4));
  assert.deepEqual(r.prototypes.get(2), f(0, 0, 6));
  assert.equal(r.prototypes.has(1), false);
  assert.deepEqual(uploads, before);
});

test('aggregation rejects wrong length, non-finite values, bad class ids, bad mu', () => {
  const shape = (e: unknown) => isTinyProtoError(e, 'E_SHAPE');
  const nonFinite = (e: unknown) => isTinyProtoError(e, 'E_NON_FINITE');
  assert.throws(() => aggregateScaled([new Map([[0, f(1, 2, 3)]])], 1, 3, 2), shape);
  assert.throws(() => aggregateMean([new Map([[0, f(1)]])], 3, 2), shape);
  assert.throws(() => aggregateScaled([new Map([[0, f(1, Number.NaN)]])], 1, 3, 2), nonFinite);
  assert.throws(() => aggregateScaled([new Map([[0, f(Infinity, 1)]])], 1, 3, 2), nonFinite);
  assert.throws(() => aggregateMean([new Map([[1, f(-Infinity, 1)]])], 3, 2), nonFinite);
  assert.throws(() => aggregateScaled([new Map([[3, f(1, 2)]])], 1, 3, 2), shape);
  assert.throws(() => aggregateScaled([new Map([[-1, f(1, 2)]])], 1, 3, 2), shape);
  assert.throws(() => aggregateMean([new Map([[1.5, f(1, 2)]])], 3, 2), shape);
  for (const mu of [0, -1, Number.NaN, Infinity]) {
    assert.throws(() => aggregateScaled([], mu, 3, 2), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  }
  // float32 overflow of the result
  assert.throws(() => aggregateScaled([new Map([[0, f(3e38, 1)]]), new Map([[0, f(3e38, 1)]])], 1, 3, 2), nonFinite);
});

test('expandGlobalPrototypes: sparse globals land on the mask, zeros elsewhere, hasGlobal flags', () => {
  const K = 4;
  const d = 10;
  const masks = makeClassMasks({ numClasses: K, featureDim: d, ratio: 0.5, seed: 2 });
  assert.equal(masks.s, 4);
  const globals = new Map([
    [0, f(1, 2, 3, 4)],
    [3, f(5, 6, 7, 8)],
  ]);
  const before = new Map([...globals].map(([k, v]) => [k, v.slice()]));
  const { prototypes, hasGlobal } = expandGlobalPrototypes(globals, masks, K, d);
  assert.equal(prototypes.length, K * d);
  assert.deepEqual(Array.from(hasGlobal), [1, 0, 0, 1]);
  for (let j = 0; j < K; j++) {
    const idx = masks.indices[j]!;
    for (let t = 0; t < d; t++) {
      const at = idx.indexOf(t);
      const want = hasGlobal[j] && at >= 0 ? globals.get(j)![at]! : 0;
      assert.equal(prototypes[j * d + t], want);
    }
  }
  assert.deepEqual(globals, before);
  assert.throws(() => expandGlobalPrototypes(new Map([[1, f(1, 2)]]), masks, K, d), (e: unknown) =>
    isTinyProtoError(e, 'E_SHAPE'),
  );
  assert.throws(() => expandGlobalPrototypes(globals, masks, K, d + 1), (e: unknown) => isTinyProtoError(e, 'E_SHAPE'));
});

test('expandGlobalPrototypes with masks = null (dense FedProto)', () => {
  const { prototypes, hasGlobal } = expandGlobalPrototypes(new Map([[1, f(1, 2, 3)]]), null, 2, 3);
  assert.deepEqual(Array.from(prototypes), [0, 0, 0, 1, 2, 3]);
  assert.deepEqual(Array.from(hasGlobal), [0, 1]);
  assert.throws(() => expandGlobalPrototypes(new Map([[2, f(1, 2, 3)]]), null, 2, 3), (e: unknown) =>
    isTinyProtoError(e, 'E_SHAPE'),
  );
});

test('muFromTotals reproduces the paper-scale mu values', () => {
  assert.ok(Math.abs(muFromTotals(45000, 10) - 0.65 * 10 / 45000) < 1e-15);
  const c10 = muFromTotals(45000, 10); // CIFAR-10, 75% of 60k for training
  const c100 = muFromTotals(45000, 100);
  assert.ok(c10 > 0.0001 && c10 < 0.0002, `${c10}`);
  assert.ok(c100 > 0.001 && c100 < 0.002, `${c100}`);
  assert.equal(muFromTotals(100, 2, 1), 0.02);
  assert.throws(() => muFromTotals(0, 10), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  assert.throws(() => muFromTotals(10, 0), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
});

test('end to end: with mu = 1/total count, scaled aggregation equals the count-weighted mean', () => {
  // Two clients, class 1: n = 4 at value 1.0, n = 1 at value 6.0 -> weighted mean 2.0
  const s = 3;
  const a = new Map([[1, f(4, 4, 4)]]);
  const b = new Map([[1, f(6, 6, 6)]]);
  const r = aggregateScaled([a, b], 1 / 5, 2, s);
  for (const v of r.prototypes.get(1)!) assert.ok(Math.abs(v - 2) < 1e-6);
});
