import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from './rng.ts';

test('same seed -> same stream; different seeds / labels -> different streams', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const xa = Array.from({ length: 20 }, () => a.nextUint32());
  const xb = Array.from({ length: 20 }, () => b.nextUint32());
  const xc = Array.from({ length: 20 }, () => c.nextUint32());
  assert.deepEqual(xa, xb);
  assert.notDeepEqual(xa, xc);
  const d1 = Rng.derive(42, 'masks');
  const d2 = Rng.derive(42, 'masks');
  const d3 = Rng.derive(42, 'partition');
  const y1 = Array.from({ length: 10 }, () => d1.next());
  assert.deepEqual(y1, Array.from({ length: 10 }, () => d2.next()));
  assert.notDeepEqual(y1, Array.from({ length: 10 }, () => d3.next()));
});

test('next in [0,1); int in [0,n) and covers the range', () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 5000; i++) {
    const u = r.next();
    assert.ok(u >= 0 && u < 1);
    const k = r.int(7);
    assert.ok(Number.isInteger(k) && k >= 0 && k < 7);
    seen.add(k);
  }
  assert.equal(seen.size, 7);
});

test('dirichlet sums to 1; alpha 0.1 is concentrated, alpha 100 is flat', () => {
  const r = new Rng(7);
  let maxSmall = 0;
  let maxLarge = 0;
  const trials = 200;
  for (let t = 0; t < trials; t++) {
    const p = r.dirichlet(0.1, 10);
    const q = r.dirichlet(100, 10);
    for (const v of [p, q]) {
      assert.equal(v.length, 10);
      assert.ok(Math.abs(v.reduce((a, x) => a + x, 0) - 1) < 1e-9);
      for (const x of v) assert.ok(x >= 0);
    }
    maxSmall += Math.max(...p);
    maxLarge += Math.max(...q);
  }
  assert.ok(maxSmall / trials > 0.6, `alpha=0.1 mean max share ${maxSmall / trials}`);
  assert.ok(maxLarge / trials < 0.2, `alpha=100 mean max share ${maxLarge / trials}`);
});

test('shuffle is a seeded permutation', () => {
  const a = new Rng(3).shuffle(Array.from({ length: 100 }, (_, i) => i));
  const b = new Rng(3).shuffle(Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(a, b);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 100 }, (_, i) => i));
  assert.notDeepEqual(a, Array.from({ length: 100 }, (_, i) => i));
  const typed = new Rng(4).shuffle(Int32Array.from({ length: 50 }, (_, i) => i));
  assert.deepEqual(Array.from(typed).sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
});
