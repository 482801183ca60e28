import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveExperimentConfig, experimentMu, type ExperimentConfig } from './config.ts';
import { experimentMasks } from '../method/experiment.ts';
import { encodeUpload } from '../wire/codec.ts';
import { updateGlobalPrototypes } from '../method/global.ts';
import { clipUpload, uploadNormBound } from '../method/robust.ts';
import { Rng } from '../common/rng.ts';
import { addUpload, closeFromSums, closeGlobal, emptySums, type CloseContext } from './close.ts';

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
