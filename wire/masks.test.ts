import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeClassMasks, expandPrototype, restrictToMask, type MaskParams } from './masks.ts';
import { isTinyProtoError } from '../common/errors.ts';

const combos: Array<[number, number, number]> = [
  [10, 500, 0.1],
  [10, 500, 0.3],
  [10, 500, 0.5],
  [10, 500, 0.9],
  [100, 500, 0.1],
  [7, 64, 0.2],
  [200, 1024, 0.1],
];

for (const [K, d, r] of combos) {
  test(`masks K=${K} d=${d} r=${r}: s ones per class, on whole blocks within K*floor(d/K)`, () => {
    const m = makeClassMasks({ numClasses: K, featureDim: d, ratio: r, seed: 42 });
    const b = Math.floor(d / K);
    const k = Math.max(1, Math.floor(K * r + 1e-9));
    assert.equal(m.blockSize, b);
    assert.equal(m.blocksPerClass, k);
    assert.equal(m.s, k * b);
    assert.equal(m.masks.length, K * d);
    assert.equal(m.codes.length, K);
    assert.equal(m.indices.length, K);
    for (let j = 0; j < K; j++) {
      const row = m.masks.subarray(j * d, (j + 1) * d);
      let ones = 0;
      for (let t = 0; t < d; t++) {
        const v = row[t]!;
        assert.ok(v === 0 || v === 1);
        ones += v;
        if (t >= K * b) assert.equal(v, 0, `remainder dim ${t} must be unused`);
      }
      assert.equal(ones, m.s);
      // whole blocks, consistent with the code
      const code = m.codes[j]!;
      assert.equal(code.length, K);
      assert.equal(code.reduce((a, x) => a + x, 0), k);
      for (let blk = 0; blk < K; blk++) {
        for (let q = 0; q < b; q++) assert.equal(row[blk * b + q], code[blk]);
      }
      // indices are the sorted ones
      const idx = m.indices[j]!;
      assert.equal(idx.length, m.s);
      for (let t = 0; t < idx.length; t++) {
        assert.equal(row[idx[t]!], 1);
        if (t > 0) assert.ok(idx[t]! > idx[t - 1]!);
      }
    }
    // class 0 = last k blocks
    const c0 = m.codes[0]!;
    for (let blk = 0; blk < K; blk++) assert.equal(c0[blk], blk >= K - k ? 1 : 0);
    // all codes distinct (C(K,k) >= K for every combo here)
    const keys = new Set(m.codes.map((c) => Array.from(c).join('')));
    assert.equal(keys.size, K);
  });
}

test('paper default K=10 d=500 r=10%: every class gets its own disjoint block of 50 dims', () => {
  const m = makeClassMasks({ numClasses: 10, featureDim: 500, ratio: 0.1, seed: 7 });
  assert.equal(m.s, 50);
  const cover = new Uint8Array(500);
  for (let j = 0; j < 10; j++) {
    for (const dim of m.indices[j]!) {
      assert.equal(cover[dim], 0, `dim ${dim} used twice`);
      cover[dim] = 1;
    }
  }
  assert.deepEqual(Array.from(m.indices[0]!), Array.from({ length: 50 }, (_, i) => 450 + i));
});

test('k = 1 with K blocks is disjoint for many seeds and small candidate counts', () => {
  for (const [K, d] of [
    [10, 500],
    [7, 64],
    [20, 100],
  ] as const) {
    for (let seed = 0; seed < 10; seed++) {
      for (const candidates of [1, 3, 1000]) {
        const m = makeClassMasks({ numClasses: K, featureDim: d, ratio: 1 / K, seed, candidates });
        const used = new Set<number>();
        for (const c of m.codes) used.add(c.indexOf(1));
        assert.equal(used.size, K, `K=${K} seed=${seed} candidates=${candidates}`);
      }
    }
  }
});

test('greedy: with K=10 r=0.5 the second class is the complement of the first', () => {
  const m = makeClassMasks({ numClasses: 10, featureDim: 500, ratio: 0.5, seed: 3 });
  assert.deepEqual(Array.from(m.codes[1]!), [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
});

test('masks are reproducible from the seed and differ across seeds', () => {
  const p: MaskParams = { numClasses: 10, featureDim: 500, ratio: 0.3, seed: 123 };
  const a = makeClassMasks(p);
  const b = makeClassMasks({ ...p });
  assert.deepEqual(a.masks, b.masks);
  assert.deepEqual(a.codes, b.codes);
  const c = makeClassMasks({ ...p, seed: 124 });
  assert.notDeepEqual(a.masks, c.masks);
  // sampling path (C(100,10) > candidates)
  const q: MaskParams = { numClasses: 100, featureDim: 500, ratio: 0.1, seed: 5, candidates: 50 };
  assert.deepEqual(makeClassMasks(q).masks, makeClassMasks(q).masks);
  assert.notDeepEqual(makeClassMasks(q).masks, makeClassMasks({ ...q, seed: 6 }).masks);
});

test('ratio 1 gives every class all blocks; tiny ratio clamps to one block', () => {
  const full = makeClassMasks({ numClasses: 4, featureDim: 10, ratio: 1, seed: 1 });
  assert.equal(full.s, 8); // 4 blocks of 2, dims 8 and 9 unused
  for (const c of full.codes) assert.deepEqual(Array.from(c), [1, 1, 1, 1]);
  const tiny = makeClassMasks({ numClasses: 4, featureDim: 10, ratio: 0.01, seed: 1 });
  assert.equal(tiny.blocksPerClass, 1);
  assert.equal(tiny.s, 2);
});

test('bad mask parameters throw E_MASK', () => {
  const base: MaskParams = { numClasses: 10, featureDim: 500, ratio: 0.1, seed: 1 };
  const bad: MaskParams[] = [
    { ...base, ratio: 0 },
    { ...base, ratio: -0.1 },
    { ...base, ratio: 1.5 },
    { ...base, ratio: Number.NaN },
    { ...base, numClasses: 1 },
    { ...base, numClasses: 2.5 },
    { ...base, featureDim: 9 },
    { ...base, seed: Number.NaN },
    { ...base, candidates: 0 },
  ];
  for (const p of bad) {
    assert.throws(() => makeClassMasks(p), (e: unknown) => isTinyProtoError(e, 'E_MASK'), JSON.stringify(p));
  }
});

test('expand/restrict round trip', () => {
  const m = makeClassMasks({ numClasses: 5, featureDim: 23, ratio: 0.4, seed: 9 });
  const d = 23;
  for (let j = 0; j < 5; j++) {
    const idx = m.indices[j]!;
    const sparse = Float32Array.from(idx, (_, t) => t + 1.5);
    const dense = expandPrototype(sparse, idx, d);
    assert.equal(dense.length, d);
    for (let t = 0; t < d; t++) assert.equal(dense[t], m.masks[j * d + t] ? dense[t] : 0);
    assert.deepEqual(restrictToMask(dense, idx), sparse);
    // out buffer is reused and cleared
    const out = new Float32Array(d).fill(9);
    assert.equal(expandPrototype(sparse, idx, d, out), out);
    assert.deepEqual(out, dense);
  }
  assert.throws(
    () => expandPrototype(new Float32Array(3), m.indices[0]!, d),
    (e: unknown) => isTinyProtoError(e, 'E_SHAPE'),
  );
});
