import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { OrtEngine, type OrtLocalModel } from './engine.ts';
import { InThreadParts, WorkerParts, splitBatch } from './parallel.ts';
import type { ModelSpec, ModelState, TrainOptions } from '../engine.ts';
import { Rng } from '../../common/rng.ts';
import { isTinyProtoError } from '../../common/errors.ts';

const engines: OrtEngine[] = [];
after(async () => {
  for (const e of engines) await e.close();
});
const engine = async (trainThreads = 1): Promise<OrtEngine> => {
  const e = await OrtEngine.create({ threads: 1, provider: 'cpu', trainThreads });
  engines.push(e);
  return e;
};

const spec = (family: ModelSpec['family'] = 'resnet8'): ModelSpec => ({ family, inputShape: [12, 12, 1], featureDim: 16, numClasses: 4, seed: 3 });

function data(n: number, s: ModelSpec): { x: Float32Array; y: Int32Array; protos: Float32Array } {
  const rng = new Rng(11);
  const [h, w, c] = s.inputShape;
  const x = Float32Array.from({ length: n * h * w * c }, () => rng.normal());
  const y = Int32Array.from({ length: n }, (_, i) => i % s.numClasses);
  const protos = Float32Array.from({ length: s.numClasses * s.featureDim }, () => rng.normal() * 0.1);
  return { x, y, protos };
}

const opts = (protos: Float32Array, batchSize: number, shuffleSeed = 1): TrainOptions => ({
  batchSize,
  lr: 0.05,
  lambda: 10,
  globalPrototypes: protos,
  hasGlobal: Uint8Array.from([1, 1, 0, 1]),
  shuffleSeed,
});

/** Largest |a - b| / (1 + |b|) over every state entry. */
function maxRelDiff(a: ModelState, b: ModelState): number {
  let worst = 0;
  for (const [name, s] of Object.entries(b)) {
    const t = a[name]!.data;
    for (let i = 0; i < s.data.length; i++) worst = Math.max(worst, Math.abs(t[i]! - s.data[i]!) / (1 + Math.abs(s.data[i]!)));
  }
  return worst;
}

test('splitBatch: parts as equal as possible, each of at least 2 samples, in order', () => {
  assert.deepEqual(splitBatch(32, 2), [16, 16]);
  assert.deepEqual(splitBatch(33, 2), [17, 16]);
  assert.deepEqual(splitBatch(32, 3), [11, 11, 10]);
  assert.deepEqual(splitBatch(5, 4), [3, 2]);
  assert.deepEqual(splitBatch(3, 4), [3]);
  assert.deepEqual(splitBatch(2, 1), [2]);
  for (let B = 2; B < 40; B++) for (let W = 1; W < 6; W++) {
    const p = splitBatch(B, W);
    assert.equal(p.reduce((a, b) => a + b, 0), B);
    assert.ok(p.every((r) => r >= 2) && p.length <= W && Math.max(...p) - Math.min(...p) <= 1);
  }
});

test('one part is the single-session training step (grads graph + update here vs the fused SGD graph), with and without the prototype contrast', async () => {
  const e = await engine();
  const s = spec();
  const { x, y, protos } = data(40, s);
  const K = s.numClasses;
  const d = s.featureDim;
  // the contrast's constants are epoch inputs ('fixed' slots): a partial last batch keeps them whole
  const contrast = { weight: 0.5, prototypes: protos, dimWeights: Float32Array.from({ length: K * d }, (_, k) => (k % 2 === 0 ? 2 : 0)), available: Uint8Array.from([1, 1, 0, 1]) };
  const losses: number[] = [];
  for (const extra of [{}, { contrast }, { clipNorm: 1e-3 }]) {
    const fused = e.createModel(s);
    const split = e.createModel(s) as OrtLocalModel;
    const o = { ...opts(protos, 16), ...extra }; // 16 + 16 + 8: a partial last batch too
    for (let epoch = 0; epoch < 2; epoch++) {
      const a = await fused.trainEpoch(x, y, { ...o, shuffleSeed: epoch });
      const b = await split.trainEpochOn(new InThreadParts(1), x, y, { ...o, shuffleSeed: epoch });
      assert.equal(b.steps, a.steps);
      assert.equal(b.clippedSteps, a.clippedSteps);
      if ('clipNorm' in extra) assert.equal(a.clippedSteps, a.steps, 'every step clipped at this limit');
      assert.ok(Math.abs(a.gradNormMax - b.gradNormMax) < 1e-4 * (1 + a.gradNormMax), `gradient norm ${a.gradNormMax} vs ${b.gradNormMax}`);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-4 * (1 + a.loss), `loss ${a.loss} vs ${b.loss}`);
      if (epoch === 0) losses.push(a.loss);
    }
    const diff = maxRelDiff(split.getState(), fused.getState());
    assert.ok(diff < 1e-4, `state differs by ${diff}`);
    fused.dispose();
    split.dispose();
  }
  assert.ok(losses[1]! > losses[0]!, `the contrast adds to the loss: ${losses[1]} > ${losses[0]}`);
});

for (const family of ['resnet8', 'mobilenetv2'] as const) {
  test(`${family}: two worker threads train exactly as the same parts one after another in one thread${family === 'mobilenetv2' ? ' (with the prototype contrast)' : ''}`, async () => {
    const e = await engine(2);
    const ref = await engine();
    const s = spec(family);
    const { x, y, protos } = data(44, s);
    const par = e.createModel(s);
    const seq = ref.createModel(s) as OrtLocalModel;
    const runners = new InThreadParts(2);
    const K = s.numClasses;
    const contrast = { weight: 0.5, prototypes: protos, dimWeights: new Float32Array(K * s.featureDim).fill(1), available: Uint8Array.from([1, 1, 0, 1]) };
    const o = { ...opts(protos, 12), ...(family === 'mobilenetv2' ? { contrast } : {}) }; // 12, 12, 12, 8: the last batch splits 4 + 4
    for (let epoch = 0; epoch < 3; epoch++) {
      const a = await par.trainEpoch(x, y, { ...o, shuffleSeed: epoch });
      const b = await seq.trainEpochOn(runners, x, y, { ...o, shuffleSeed: epoch });
      assert.equal(a.steps, 4);
      assert.equal(a.samples, 44);
      assert.ok(Math.abs(a.loss - b.loss) < 1e-5 * (1 + b.loss), `loss ${a.loss} vs ${b.loss}`);
    }
    const d = maxRelDiff(par.getState(), seq.getState());
    assert.ok(d < 1e-5, `state differs by ${d}`);
    // ghost batch norm is a different step from full-batch statistics: the test can tell them apart
    const whole = ref.createModel(s);
    for (let epoch = 0; epoch < 3; epoch++) await whole.trainEpoch(x, y, { ...o, shuffleSeed: epoch });
    assert.ok(maxRelDiff(whole.getState(), seq.getState()) > 1e-4);
    par.dispose();
    seq.dispose();
    whole.dispose();
  });
}

test('worker buffers do not grow across steps or epochs; a second model rebinds; close() ends the workers', async () => {
  const s = spec();
  const { x, y, protos } = data(48, s);
  const runners = new WorkerParts(2);
  const e = await engine();
  const m = e.createModel(s) as OrtLocalModel;
  const o = opts(protos, 16); // 3 full batches: no partial part
  await m.trainEpochOn(runners, x, y, o);
  const first = await runners.stats(true);
  for (let epoch = 1; epoch < 6; epoch++) await m.trainEpochOn(runners, x, y, { ...o, shuffleSeed: epoch });
  const later = await runners.stats(true);
  for (let i = 0; i < 2; i++) {
    assert.equal(later[i]!.steps - first[i]!.steps, 15);
    assert.equal(later[i]!.tensorsCreated, first[i]!.tensorsCreated, 'a steady-state step or epoch created ORT tensors');
    assert.equal(later[i]!.boundTensors, first[i]!.boundTensors);
    assert.ok(later[i]!.arrayBuffersBytes <= first[i]!.arrayBuffersBytes + 64 * 1024, `worker ${i} array buffers grew ${first[i]!.arrayBuffersBytes} -> ${later[i]!.arrayBuffersBytes}`);
  }
  const other = e.createModel(s) as OrtLocalModel;
  await other.trainEpochOn(runners, x, y, o); // binds its own buffers
  await m.trainEpochOn(runners, x, y, o); // and this one binds again
  assert.ok((await runners.stats())[0]!.tensorsCreated > later[0]!.tensorsCreated);
  // closing during an epoch lets the step in flight finish, then fails that epoch (nothing is left
  // waiting, and the worker is not torn down inside onnxruntime); after it, every call fails
  const long = data(960, s); // 60 steps: the close below lands while steps run
  const during = assert.rejects(m.trainEpochOn(runners, long.x, long.y, o), (err) => isTinyProtoError(err, 'E_WORKER'));
  await new Promise((resolve) => setTimeout(resolve, 20));
  await runners.close();
  await during;
  await assert.rejects(m.trainEpochOn(runners, x, y, o), (err) => isTinyProtoError(err, 'E_WORKER'));
  m.dispose();
  other.dispose();
});

test('trainThreads must be an integer >= 1', async () => {
  await assert.rejects(OrtEngine.create({ trainThreads: 0 }), (err) => isTinyProtoError(err, 'E_CONFIG'));
  await assert.rejects(OrtEngine.create({ trainThreads: 1.5 }), (err) => isTinyProtoError(err, 'E_CONFIG'));
});
