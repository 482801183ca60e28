/**
 * TrainOptions.classWeights (the improvement options' prototype-term weights) in both engines
 * and in ort's data-parallel path: K weights equal to the flags reproduce the paper's loss
 * exactly, and per-dimension weights that are zero off a mask make the training step blind to
 * the target off the mask (zero gradient there) while it still follows the target on the mask.
 * Also TrainOptions.collectFeatures (the training-pass prototypes).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OrtEngine, type OrtLocalModel } from '../models/ort/engine.ts';
import { InThreadParts } from '../models/ort/parallel.ts';
import { TfjsEngine } from '../models/tfjs/engine.ts';
import type { Engine, ModelSpec, ModelState, TrainOptions } from '../models/engine.ts';
import { Rng } from '../common/rng.ts';
import { isTinyProtoError } from '../common/errors.ts';

const engines: OrtEngine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});

const spec: ModelSpec = { family: 'resnet8', inputShape: [12, 12, 1], featureDim: 8, numClasses: 4, seed: 5 };
const { featureDim: d, numClasses: K } = spec;
const rng = new Rng(21);
const n = 20; // 8 + 8 + 4: a partial last batch too
const x = Float32Array.from({ length: n * 144 }, () => rng.normal());
const y = Int32Array.from({ length: n }, (_, i) => i % K);
const protos = Float32Array.from({ length: K * d }, () => rng.normal() * 0.5);
const hasGlobal = Uint8Array.from([1, 1, 0, 1]);
/** Class j's "mask": dimensions 2j and 2j+1. */
const onMask = (j: number, k: number): boolean => k === 2 * j || k === 2 * j + 1;
const masked = Float32Array.from({ length: K * d }, (_, i) => (hasGlobal[Math.floor(i / d)] === 1 && onMask(Math.floor(i / d), i % d) ? d / 2 : 0));

const opts = (over: Partial<TrainOptions> = {}): TrainOptions => ({ batchSize: 8, lr: 0.05, lambda: 10, globalPrototypes: protos, hasGlobal, shuffleSeed: 3, ...over });

type Trainer = (o: TrainOptions) => Promise<ModelState>;

async function trainer(kind: 'ort' | 'ort-parts' | 'tfjs'): Promise<Trainer> {
  let e: Engine;
  if (kind === 'tfjs') e = await TfjsEngine.create({ backend: 'wasm' });
  else {
    const o = await OrtEngine.create({ threads: 1, provider: 'cpu' });
    engines.push(o);
    e = o;
  }
  return async (o) => {
    const m = e.createModel(spec);
    try {
      if (kind === 'ort-parts') await (m as OrtLocalModel).trainEpochOn(new InThreadParts(2), x, y, o);
      else await m.trainEpoch(x, y, o);
      return m.getState();
    } finally {
      m.dispose();
    }
  };
}

function maxDiff(a: ModelState, b: ModelState): number {
  let worst = 0;
  for (const [name, s] of Object.entries(b)) for (let i = 0; i < s.data.length; i++) worst = Math.max(worst, Math.abs(a[name]!.data[i]! - s.data[i]!));
  return worst;
}

for (const kind of ['ort', 'ort-parts', 'tfjs'] as const) {
  test(`${kind}: K class weights equal to the flags are the paper's loss, bit for bit; K x d ones agree`, async () => {
    const train = await trainer(kind);
    const paper = await train(opts());
    const perClass = await train(opts({ classWeights: Float32Array.from(hasGlobal) }));
    assert.equal(maxDiff(perClass, paper), 0);
    const perDim = await train(opts({ classWeights: Float32Array.from({ length: K * d }, (_, i) => hasGlobal[Math.floor(i / d)]!) }));
    assert.ok(maxDiff(perDim, paper) < 1e-6, `per-dimension ones differ by ${maxDiff(perDim, paper)}`);
  });

  test(`${kind}: masked weights: the target off the mask changes nothing, on the mask it does`, async () => {
    const train = await trainer(kind);
    const base = await train(opts({ classWeights: masked }));
    const offChanged = Float32Array.from(protos, (v, i) => (onMask(Math.floor(i / d), i % d) ? v : v + 3));
    const off = await train(opts({ classWeights: masked, globalPrototypes: offChanged }));
    assert.equal(maxDiff(off, base), 0, 'the target off the mask must not matter');
    const onChanged = Float32Array.from(protos, (v, i) => (onMask(Math.floor(i / d), i % d) ? v + 3 : v));
    const on = await train(opts({ classWeights: masked, globalPrototypes: onChanged }));
    assert.ok(maxDiff(on, base) > 1e-4, 'the target on the mask must matter');
    // and it is not the paper's loss, which pulls the off-mask dimensions to the target too
    const paperOff = await train(opts({ globalPrototypes: offChanged }));
    assert.ok(maxDiff(paperOff, await train(opts())) > 1e-4);
  });
}

test('classWeights of the wrong length or with a negative weight are typed errors', async () => {
  const train = await trainer('ort');
  await assert.rejects(train(opts({ classWeights: new Float32Array(K + 1) })), (e) => isTinyProtoError(e) && e.code === 'E_SHAPE');
  await assert.rejects(train(opts({ classWeights: Float32Array.from([1, -1, 1, 1]) })), (e) => isTinyProtoError(e) && e.code === 'E_CONFIG');
});

test('collectFeatures: the training steps\' class feature sums, the same in both engines, without changing the training', async () => {
  const run = async (kind: 'ort' | 'tfjs', collect: boolean) => {
    const e: Engine = kind === 'tfjs' ? await TfjsEngine.create({ backend: 'wasm' }) : await OrtEngine.create({ threads: 1, provider: 'cpu' });
    if (e instanceof OrtEngine) engines.push(e);
    const m = e.createModel(spec);
    try {
      const stats = await m.trainEpoch(x, y, opts({ collectFeatures: collect }));
      return { stats, state: m.getState() };
    } finally {
      m.dispose();
    }
  };
  const ort = await run('ort', true);
  assert.equal(maxDiff(ort.state, (await run('ort', false)).state), 0, 'collecting must not change the step');
  const c = ort.stats.classFeatures!;
  // every sample is visited once (20 = 8 + 8 + 4, no single last sample): 5 per class
  assert.deepEqual([...c.counts], [5, 5, 5, 5]);
  assert.ok(c.sums.some((v) => Math.abs(v) > 1e-3));
  const tf = (await run('tfjs', true)).stats.classFeatures!;
  assert.deepEqual([...tf.counts], [...c.counts]);
  let worst = 0;
  for (let i = 0; i < c.sums.length; i++) worst = Math.max(worst, Math.abs(c.sums[i]! - tf.sums[i]!) / (1 + Math.abs(c.sums[i]!)));
  assert.ok(worst < 1e-3, `ort and tfjs feature sums differ by ${worst}`);
  assert.equal((await run('ort', false)).stats.classFeatures, undefined);
  const parts = await OrtEngine.create({ threads: 1, provider: 'cpu' });
  engines.push(parts);
  const pm = parts.createModel(spec) as OrtLocalModel;
  await assert.rejects(pm.trainEpochOn(new InThreadParts(2), x, y, opts({ collectFeatures: true })), (e) => isTinyProtoError(e) && e.code === 'E_CONFIG');
  pm.dispose();
});
