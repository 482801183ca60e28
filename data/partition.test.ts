import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTinyProtoError } from '../common/errors.ts';
import { capPerClient, classCounts, dirichletPartition, makeShards, trainTestSplit } from './partition.ts';
import type { ImageDataset } from './types.ts';

/** perClass samples of each of k classes, interleaved (label = i % k). */
function balancedLabels(k: number, perClass: number): Int32Array {
  return Int32Array.from({ length: k * perClass }, (_, i) => i % k);
}

function tinyDataset(labels: Int32Array, numClasses = 10): ImageDataset {
  return {
    name: 'tiny', count: labels.length, height: 2, width: 2, channels: 1, numClasses,
    pixels: new Uint8Array(labels.length * 4), labels, mean: [0.5], std: [0.25],
  };
}

const isSorted = (a: Int32Array): boolean => a.every((v, i) => i === 0 || a[i - 1]! < v);

describe('dirichletPartition', () => {
  const labels = balancedLabels(10, 500);

  test('every index is used exactly once; clients sorted; minPerClient respected', () => {
    for (const alpha of [0.1, 0.5, 100]) {
      const parts = dirichletPartition(labels, 10, 20, { alpha, seed: 7, minPerClient: 25 });
      assert.equal(parts.length, 20);
      const seen = new Uint8Array(labels.length);
      for (const p of parts) {
        assert.ok(p.length >= 25, `alpha ${alpha}: client with ${p.length} < 25 samples`);
        assert.ok(isSorted(p));
        for (const i of p) seen[i]!++;
      }
      assert.ok(seen.every((c) => c === 1), `alpha ${alpha}: some index not used exactly once`);
    }
  });

  test('deterministic per seed; different seeds differ', () => {
    const a = dirichletPartition(labels, 10, 8, { alpha: 0.5, seed: 42 });
    const b = dirichletPartition(labels, 10, 8, { alpha: 0.5, seed: 42 });
    const c = dirichletPartition(labels, 10, 8, { alpha: 0.5, seed: 43 });
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
  });

  test('low alpha gives strong label skew, high alpha near IID', () => {
    const classesPerClient = (alpha: number, seed: number): number => {
      const parts = dirichletPartition(labels, 10, 20, { alpha, seed });
      const present = parts.map((p) => classCounts(labels, p, 10).filter((c) => c > 0).length);
      return present.reduce((s, v) => s + v, 0) / present.length;
    };
    for (const seed of [1, 2, 3]) {
      const low = classesPerClient(0.1, seed);
      assert.ok(low < 5, `alpha 0.1 seed ${seed}: mean ${low} classes per client`);
      const high = classesPerClient(100, seed);
      assert.ok(high > 9.5, `alpha 100 seed ${seed}: mean ${high} classes per client`);
    }
  });

  test('impossible minimum -> E_PARTITION', () => {
    const small = balancedLabels(10, 5); // 50 samples
    assert.throws(
      () => dirichletPartition(small, 10, 6, { alpha: 0.5, seed: 1, minPerClient: 10 }),
      (e: unknown) => isTinyProtoError(e, 'E_PARTITION') && /6 clients/.test(e.message) && /only 50 samples/.test(e.message),
    );
    // feasible by count (50 >= 5 * 10) but practically unreachable with one class and
    // alpha 0.01 (the class goes almost entirely to one client): gives up after maxTries
    const oneClass = new Int32Array(50);
    assert.throws(
      () => dirichletPartition(oneClass, 10, 5, { alpha: 0.01, seed: 1, minPerClient: 10, maxTries: 20 }),
      (e: unknown) => isTinyProtoError(e, 'E_PARTITION') && /20 tries/.test(e.message),
    );
  });

  test('bad arguments', () => {
    assert.throws(() => dirichletPartition(labels, 10, 0, { alpha: 1, seed: 1 }), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
    assert.throws(() => dirichletPartition(labels, 10, 4, { alpha: 0, seed: 1 }), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
    assert.throws(() => dirichletPartition(labels, 5, 4, { alpha: 1, seed: 1 }), (e: unknown) => isTinyProtoError(e, 'E_PARTITION') && /label 5/.test(e.message));
  });

  test('single client gets everything', () => {
    const [only] = dirichletPartition(labels, 10, 1, { alpha: 0.1, seed: 3 });
    assert.equal(only?.length, labels.length);
  });
});

describe('capPerClient', () => {
  const idx = Int32Array.from({ length: 100 }, (_, i) => i * 3);
  test('random deterministic subset of at most max', () => {
    const a = capPerClient(idx, 10, 5);
    assert.equal(a.length, 10);
    assert.deepEqual(a, capPerClient(idx, 10, 5));
    assert.notDeepEqual(a, capPerClient(idx, 10, 6));
    assert.ok(isSorted(a));
    const all = new Set(idx);
    assert.ok(a.every((v) => all.has(v)));
    assert.notDeepEqual(a, idx.subarray(0, 10)); // not simply the first ones
  });
  test('small inputs are copied unchanged', () => {
    const c = capPerClient(idx, 500, 1);
    assert.deepEqual(c, idx);
    assert.notEqual(c, idx);
  });
});

describe('trainTestSplit', () => {
  const labels = balancedLabels(4, 50); // 200 samples
  const idx = Int32Array.from({ length: 200 }, (_, i) => i);

  test('75/25, disjoint, covers the input, deterministic', () => {
    const { train, test: te } = trainTestSplit(idx, labels, 9);
    assert.equal(train.length, 150);
    assert.equal(te.length, 50);
    const both = new Set([...train, ...te]);
    assert.equal(both.size, 200);
    assert.ok(isSorted(train) && isSorted(te));
    assert.deepEqual(trainTestSplit(idx, labels, 9), { train, test: te });
    assert.notDeepEqual(trainTestSplit(idx, labels, 10).test, te);
  });

  test('stratified: each class split about 75/25', () => {
    const { test: te } = trainTestSplit(idx, labels, 3);
    for (const c of classCounts(labels, te, 4)) assert.ok(c >= 12 && c <= 13, `test count per class ${c}`);
  });

  test('other fractions and odd sizes', () => {
    const sub = idx.subarray(0, 7);
    const r = trainTestSplit(sub, labels, 1, 0.75);
    assert.equal(r.train.length, 5); // floor(5.25)
    assert.equal(r.test.length, 2);
    const h = trainTestSplit(idx, labels, 1, 0.5);
    assert.equal(h.train.length, 100);
  });

  test('tiny clients: >= 2 samples always give a test sample', () => {
    for (const n of [2, 3, 4]) {
      const r = trainTestSplit(idx.subarray(0, n), labels, n, 0.9);
      assert.ok(r.test.length >= 1 && r.train.length >= 1, `n=${n}`);
      assert.equal(r.train.length + r.test.length, n);
    }
    const one = trainTestSplit(Int32Array.of(5), labels, 1);
    assert.deepEqual(Array.from(one.train), [5]);
    assert.equal(one.test.length, 0);
    assert.equal(trainTestSplit(new Int32Array(0), labels, 1).train.length, 0);
  });

  test('bad fraction -> E_CONFIG', () => {
    assert.throws(() => trainTestSplit(idx, labels, 1, 1), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  });
});

describe('classCounts', () => {
  test('counts per class over the given indices', () => {
    const labels = Int32Array.of(0, 1, 1, 2, 2, 2);
    assert.deepEqual(Array.from(classCounts(labels, Int32Array.of(1, 3, 4, 5), 4)), [0, 1, 3, 0]);
    assert.deepEqual(Array.from(classCounts(labels, [0, 0], 3)), [2, 0, 0]);
  });
});

describe('makeShards', () => {
  const labels = balancedLabels(10, 300); // 3000 samples
  const ds = tinyDataset(labels);

  test('partition + split, disjoint across clients, deterministic', () => {
    const shards = makeShards(ds, { clients: 6, alpha: 0.5, seed: 11 });
    assert.equal(shards.length, 6);
    const seen = new Uint8Array(ds.count);
    shards.forEach((s, i) => {
      assert.equal(s.client, i);
      assert.ok(s.test.length >= 1);
      const n = s.train.length + s.test.length;
      assert.equal(s.train.length, Math.floor(0.75 * n));
      for (const j of [...s.train, ...s.test]) seen[j]!++;
    });
    assert.ok(seen.every((c) => c === 1));
    assert.deepEqual(makeShards(ds, { clients: 6, alpha: 0.5, seed: 11 }), shards);
  });

  test('samplesPerClient caps before splitting', () => {
    const shards = makeShards(ds, { clients: 5, alpha: 1, seed: 2, samplesPerClient: 40, trainFraction: 0.8 });
    for (const s of shards) {
      assert.equal(s.train.length, 32);
      assert.equal(s.test.length, 8);
    }
  });

  test('minPerClient passes through', () => {
    assert.throws(() => makeShards(ds, { clients: 10, alpha: 1, seed: 2, minPerClient: 400 }), (e: unknown) => isTinyProtoError(e, 'E_PARTITION'));
  });
});
