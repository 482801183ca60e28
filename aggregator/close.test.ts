import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveExperimentConfig, experimentMu, type ExperimentConfig } from './config.ts';
import { experimentMasks } from '../method/experiment.ts';
import { encodeUpload } from '../wire/codec.ts';
import { updateGlobalPrototypes } from '../method/global.ts';
import { clipUpload, uploadNormBound } from '../method/robust.ts';
import { Rng } from '../common/rng.ts';
import { addUpload, closeFromSums, closeGlobal, emptySums, type CloseContext } from './close.ts';
import type { RunningSums } from '../method/running-sum.ts';

function context(method: 'tinyproto' | 'fedproto', K = 10): CloseContext {
  const config: ExperimentConfig = resolveExperimentConfig({ method, numClasses: K, featureDim: 64, agents: ['a'], mu: 0.01 });
  const masks = experimentMasks(config);
  return { config, sender: 'aggregator', round: 3, masks, mu: experimentMu(config), valuesPerClass: masks?.s ?? config.featureDim, layout: masks ? 'sparse' : 'dense' };
}

/** n uploads with random class subsets and values; some far above the clipping bound. */
function uploads(ctx: CloseContext, n: number, seed: number): { frames: Uint8Array[]; maps: Map<number, Float32Array>[] } {
  const rng = new Rng(seed);
  const c = ctx.config;
  const big = uploadNormBound({ method: c.method, mu: ctx.mu });
  const frames: Uint8Array[] = [];
  const maps: Map<number, Float32Array>[] = [];
  for (let i = 0; i < n; i++) {
    const m = new Map<number, Float32Array>();
    for (let j = 0; j < c.numClasses; j++) {
      if (rng.next() < 0.4) continue;
      const v = new Float32Array(ctx.valuesPerClass);
      const scale = i % 17 === 0 ? big : 5; // every 17th upload is clipped
      for (let t = 0; t < v.length; t++) v[t] = (rng.next() * 2 - 1) * scale;
      m.set(j, v);
    }
    if (m.size === 0) m.set(0, new Float32Array(ctx.valuesPerClass).fill(1));
    maps.push(m);
    frames.push(
      encodeUpload(
        { experiment: c.experiment, sender: `agent-${i}`, round: ctx.round },
        { K: c.numClasses, d: c.featureDim, s: ctx.valuesPerClass, layout: ctx.layout, valueType: 'float32', prototypes: [...m].map(([classId, values]) => ({ classId, values })) },
      ),
    );
  }
  return { frames, maps };
}

for (const method of ['tinyproto', 'fedproto'] as const) {
  test(`${method}: the incremental sums give the same GLOBAL, byte for byte, as decoding the stored uploads and as the batch maths`, () => {
    const ctx = context(method);
    const { frames, maps } = uploads(ctx, 300, method === 'tinyproto' ? 1 : 2);
    const previous = new Map([[9, new Float32Array(ctx.valuesPerClass).fill(0.5)]]);
    // incremental, in a different order than the store would return them
    const sums = emptySums(ctx);
    const order = maps.map((_, i) => i).sort((a, b) => ((a * 7919) % 300) - ((b * 7919) % 300));
    for (const i of order) addUpload(ctx, sums, maps[i]!, `agent-${i}`);
    const incremental = closeFromSums(ctx, sums, previous);
    const fromFrames = closeGlobal(ctx, frames, previous);
    assert.ok(incremental.bytes && fromFrames.bytes);
    assert.deepEqual(Buffer.from(incremental.bytes), Buffer.from(fromFrames.bytes));
    // the pre-existing path: clip every upload, then updateGlobalPrototypes over all of them
    const c = ctx.config;
    const reference = updateGlobalPrototypes(
      { method: c.method, numClasses: c.numClasses, featureDim: c.featureDim, masks: ctx.masks, mu: ctx.mu },
      maps.map((m) => clipUpload(m, { method: c.method, mu: ctx.mu }).upload),
      previous,
    )!;
    assert.equal(incremental.prototypes.size, reference.prototypes.size);
    for (const [j, v] of reference.prototypes) assert.deepEqual(incremental.prototypes.get(j), v, `class ${j}`);
    assert.equal(sums.count, 300);
  });
}

test('closing a round from its sums costs the same at 100 and at 5,000 uploads (no per-upload work)', () => {
  const ctx = context('tinyproto');
  const timeClose = (n: number): number => {
    const sums = emptySums(ctx);
    for (const m of uploads(ctx, n, 5).maps) addUpload(ctx, sums, m, 'x');
    const t0 = process.hrtime.bigint();
    for (let k = 0; k < 20; k++) closeFromSums(ctx, sums, new Map());
    return Number(process.hrtime.bigint() - t0) / 20;
  };
  const small = timeClose(100);
  const large = timeClose(5000);
  // O(K * s) both: 50x the uploads must not cost anywhere near 50x (generous for a shared machine)
  assert.ok(large < small * 10 + 2e6, `close at 5,000 uploads ${large} ns vs ${small} ns at 100`);
});

test('a bad upload added to the sums changes nothing', () => {
  const ctx = context('tinyproto');
  const sums = emptySums(ctx);
  addUpload(ctx, sums, new Map([[1, new Float32Array(ctx.valuesPerClass).fill(2)]]), 'good');
  const before = Float64Array.from(sums.sums);
  const bad = new Map([[1, new Float32Array(ctx.valuesPerClass).fill(1)], [2, new Float32Array(ctx.valuesPerClass).fill(Number.NaN)]]);
  assert.throws(() => addUpload(ctx, sums, bad, 'bad'), (e: Error & { code?: string }) => e.code === 'E_NON_FINITE');
  assert.deepEqual(sums.sums, before);
  assert.equal(sums.count, 1);
  assert.deepEqual([...sums.contributors].slice(0, 3), [0, 1, 0]);
});

test('staleRounds: a class without a contributor for staleRounds rounds with uploads loses its global prototype; a round without uploads ages nothing; the ages are rebuilt from the stored GLOBALs', async () => {
  const { openAggregatorStore } = await import('./store.ts');
  const { classAges } = await import('./experiment-open.ts');
  const base = context('tinyproto', 4);
  const config: ExperimentConfig = resolveExperimentConfig({ ...base.config, staleRounds: 2 });
  const ctx: CloseContext = { ...base, config };
  const s = ctx.valuesPerClass;
  const up = (classes: number[]): RunningSums => {
    const sums = emptySums(ctx);
    if (classes.length > 0) addUpload(ctx, sums, new Map(classes.map((j) => [j, new Float32Array(s).fill(j + 1)])), 'a');
    return sums;
  };
  const store = openAggregatorStore(':memory:');
  try {
    store.createExperiment(config.experiment, { ...config }, null);
    let previous = new Map<number, Float32Array>();
    let ages: Int32Array = new Int32Array(4);
    const plan: number[][] = [[0, 1], [0], [], [0], [0, 2]];
    const seen: number[][] = [];
    plan.forEach((classes, i) => {
      const round = i + 1;
      const closed = closeFromSums({ ...ctx, round }, up(classes), previous, ages);
      store.openRound(config.experiment, round, new Uint8Array([1]), 1000);
      store.closeRound(config.experiment, round, closed.bytes, { uploads: classes.length > 0 ? 1 : 0 });
      previous = closed.prototypes;
      ages = closed.ages;
      seen.push([...previous.keys()].sort());
      // what a restarted aggregator rebuilds before the next round: the ages, up to staleRounds
      assert.deepEqual([...classAges(store, config, s, round + 1)], [...ages].map((a) => Math.min(a, 2)), `round ${round}`);
    });
    // class 1: uploaded in round 1, kept in round 2, its second round without a contributor
    // with uploads is round 4 (round 3 had none), so it is gone from round 4 on
    assert.deepEqual(seen, [[0, 1], [0, 1], [0, 1], [0], [0, 2]]);
    assert.deepEqual([...ages], [0, 3, 0, 4]);
    // staleRounds 0 (the default): nothing is dropped, and no ages are kept on restart
    assert.deepEqual([...classAges(store, { ...config, staleRounds: 0 }, s, 6)], [0, 0, 0, 0]);
  } finally {
    store.close();
  }
});
