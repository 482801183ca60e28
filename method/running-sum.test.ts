/**
 * Partial sums compose: uploads summed by two relays and merged give one aggregator's sums, with
 * exact contributor counts. Exact to the bit when float64 adds every value without rounding
 * (dyadic values of bounded range); for arbitrary values the grouping changes float64 rounding
 * only, which is at most one float32 ulp in the prototypes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RunningSums } from './running-sum.ts';
import { Rng } from '../common/rng.ts';

type Upload = Map<number, Float32Array>;

function uploads(rng: Rng, n: number, K: number, len: number, dyadic: boolean): Upload[] {
  return Array.from({ length: n }, () => {
    const m: Upload = new Map();
    for (let j = 0; j < K; j++) {
      if (rng.int(3) === 0) continue;
      const v = new Float32Array(len);
      // dyadic: k / 256 with |k| < 2^12: every partial sum of < 2^20 such values is exact in float64
      for (let t = 0; t < len; t++) v[t] = dyadic ? (rng.int(8191) - 4095) / 256 : rng.normal() * 10 ** (rng.int(7) - 3);
      m.set(j, v);
    }
    return m;
  });
}

function sumOf(list: Upload[], K: number, len: number): RunningSums {
  const s = new RunningSums(K, len);
  list.forEach((u, i) => s.add(u, i));
  return s;
}

/** Two relays' PARTIALs (as fromParts rebuilds them from the wire) merged into a coordinator that also took direct uploads. */
function viaRelays(list: Upload[], K: number, len: number, rng: Rng): RunningSums {
  const shards: Upload[][] = [[], [], []];
  for (const u of list) shards[rng.int(3)]!.push(u);
  const coordinator = sumOf(shards[0]!, K, len);
  for (const shard of shards.slice(1)) {
    if (shard.length === 0) continue;
    const relay = sumOf(shard, K, len);
    coordinator.mergeFrom(RunningSums.fromParts(K, len, relay.count, relay.parts()));
  }
  return coordinator;
}

test('merged partial sums equal one aggregator exactly for values float64 adds exactly', () => {
  const rng = new Rng(11);
  for (let trial = 0; trial < 20; trial++) {
    const list = uploads(rng, 1 + rng.int(60), 10, 8, true);
    const one = sumOf(list, 10, 8);
    const merged = viaRelays(list, 10, 8, rng);
    assert.deepEqual([...merged.sums], [...one.sums]);
    assert.deepEqual([...merged.contributors], [...one.contributors]);
    assert.equal(merged.count, list.length);
    assert.deepEqual(merged.scaled(0.05), one.scaled(0.05));
    assert.deepEqual(merged.mean(), one.mean());
  }
});

test('for arbitrary values merged partials differ from one aggregator by at most one float32 ulp; counts exact', () => {
  const rng = new Rng(12);
  for (let trial = 0; trial < 20; trial++) {
    const list = uploads(rng, 1 + rng.int(60), 10, 8, false);
    const one = sumOf(list, 10, 8).scaled(0.05);
    const merged = viaRelays(list, 10, 8, rng).scaled(0.05);
    assert.deepEqual([...merged.contributors], [...one.contributors]);
    for (const [j, v] of one.prototypes) {
      const w = merged.prototypes.get(j)!;
      for (let t = 0; t < v.length; t++) {
        const ulp = Math.abs(Math.fround(v[t]! * (1 + 2 ** -23)) - v[t]!) || Number.MIN_VALUE;
        assert.ok(Math.abs(w[t]! - v[t]!) <= ulp * 1.0001 + 1e-45, `class ${j}[${t}]: ${w[t]} vs ${v[t]}`);
      }
    }
  }
});

test('fromParts checks what it is given', () => {
  const ok = { classId: 1, contributors: 1, sums: Float64Array.of(1, 2) };
  assert.throws(() => RunningSums.fromParts(2, 2, 0, [ok]), { code: 'E_SHAPE', message: 'partial sums need at least one upload, got 0' });
  assert.throws(() => RunningSums.fromParts(2, 2, 1, [{ ...ok, classId: 2 }]), { code: 'E_SHAPE', message: 'partial sums have class id 2, expected an integer in [0, 2)' });
  assert.throws(() => RunningSums.fromParts(2, 2, 1, [{ ...ok, contributors: 2 }]), { code: 'E_SHAPE', message: 'partial sums of class 1 have 2 contributors, expected 1..1' });
  assert.throws(() => RunningSums.fromParts(2, 2, 1, [ok, ok]), { code: 'E_SHAPE', message: 'partial sums have class 1 twice' });
  assert.throws(() => RunningSums.fromParts(2, 2, 1, [{ ...ok, sums: Float64Array.of(1, NaN) }]), { code: 'E_NON_FINITE' });
  const s = RunningSums.fromParts(2, 2, 3, [ok]);
  assert.deepEqual([...s.sums], [0, 0, 1, 2]);
  assert.equal(s.count, 3);
});
