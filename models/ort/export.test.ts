/**
 * The inference ONNX export: for every family, a model trained for an epoch by either engine
 * (ONNX Runtime, and TensorFlow.js on wasm: their states are interchangeable) exports to a
 * standalone model whose features and logits equal that engine's own embed, and whose accuracy
 * through evaluateOnnx is the engine's head accuracy. States that do not fit are E_SHAPE.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { OrtEngine } from './engine.ts';
import { TfjsEngine } from '../tfjs/engine.ts';
import { evaluateOnnx, exportInferenceOnnx } from './export.ts';
import { buildTrainGraph } from './graphs.ts';
import { loadOrt } from './runtime.ts';
import { FAMILIES } from '../zoo-info.ts';
import type { Engine, Embedding, ModelSpec, ModelState } from '../engine.ts';
import { accuracy, quadrants, randomImages, spec, trainOpts } from '../../test/helpers/engine-contract.ts';
import { relDiff } from '../../test/helpers/assert.ts';
import { isTinyProtoError } from '../../common/errors.ts';

const TOL = 1e-4;

let ort: Engine;
let tfjs: Engine;

before(async () => {
  ort = await OrtEngine.create({ threads: 1 });
  tfjs = await TfjsEngine.create({ backend: 'wasm' });
});

/** Runs an exported model on n images: its features and logits. */
async function runExported(bytes: Uint8Array, s: ModelSpec, x: Float32Array, n: number): Promise<Embedding> {
  const o = await loadOrt();
  const session = await o.InferenceSession.create(bytes);
  try {
    assert.deepEqual(session.inputNames, ['x'], 'weights are baked in: x is the only input');
    const out = await session.run({ x: new o.Tensor('float32', x, [n, ...s.inputShape]) });
    assert.deepEqual(out['features']!.dims, [n, s.featureDim]);
    assert.deepEqual(out['logits']!.dims, [n, s.numClasses]);
    return { features: out['features']!.data as Float32Array, logits: out['logits']!.data as Float32Array };
  } finally {
    await session.release();
  }
}

/** Data for a spec: the quadrant task on 8x8x1, random images (labels i mod K) otherwise. */
function dataFor(s: ModelSpec, n: number): { x: Float32Array; y: Int32Array } {
  if (s.inputShape.join('x') === '8x8x1') return quadrants(n, 3);
  const [h, w, c] = s.inputShape;
  return { x: randomImages(n, h * w * c, 5), y: Int32Array.from({ length: n }, (_, i) => i % s.numClasses) };
}

async function checkEngine(engine: Engine, s: ModelSpec, n: number): Promise<void> {
  const where = `${engine.name} ${s.family} ${s.inputShape.join('x')}`;
  const { x, y } = dataFor(s, n);
  const m = engine.createModel(s);
  try {
    await m.trainEpoch(x, y, trainOpts({ batchSize: 8, lr: 0.05 }));
    const emb = await m.embed(x, n);
    const bytes = exportInferenceOnnx(s, m.getState());
    const got = await runExported(bytes, s, x, n);
    const dl = relDiff(got.logits, emb.logits);
    const df = relDiff(got.features, emb.features);
    assert.ok(dl <= TOL, `${where}: logits differ by ${dl} (relative)`);
    assert.ok(df <= TOL, `${where}: features differ by ${df} (relative)`);
    const ev = await evaluateOnnx(bytes, s.inputShape, x, y, 5);
    assert.equal(ev.count, n);
    assert.equal(ev.accuracy, accuracy(emb.logits, y, s.numClasses), `${where}: same argmax count`);
  } finally {
    m.dispose();
  }
}

for (const family of FAMILIES) {
  test(`${family}: exported logits equal the ort and tfjs engines' embed after an epoch`, async () => {
    for (const shape of [
      [8, 8, 1],
      [28, 28, 1],
    ] as [number, number, number][]) {
      const s = spec(family, shape);
      const n = shape[0] === 8 ? 32 : 12;
      await checkEngine(ort, s, n);
      await checkEngine(tfjs, s, n);
    }
  });
}

test('states that do not fit the spec are E_SHAPE', () => {
  const s = spec('resnet8', [8, 8, 1]);
  const m = ort.createModel(s);
  let state: ModelState;
  try {
    state = m.getState();
  } finally {
    m.dispose();
  }
  const isShape = (re: RegExp) => (e: unknown) => isTinyProtoError(e, 'E_SHAPE') && re.test(e.message);
  const { ['head.weight']: _w, ...missing } = state;
  assert.throws(() => exportInferenceOnnx(s, missing), isShape(/missing parameter head\.weight/));
  assert.throws(() => exportInferenceOnnx(s, { ...state, extra: { shape: [1], data: new Float32Array(1) } }), isShape(/unknown parameters extra/));
  assert.throws(() => exportInferenceOnnx({ ...s, featureDim: 20 }, state), isShape(/fc\.weight has shape/));
  assert.throws(() => exportInferenceOnnx({ ...s, family: 'mobilenetv2' }, state), (e) => isTinyProtoError(e, 'E_SHAPE'));
});

test('evaluateOnnx: E_SHAPE for a wrong input size, E_MODEL for a model without x -> logits', async () => {
  const s = spec('resnet8', [8, 8, 1]);
  const m = ort.createModel(s);
  const bytes = exportInferenceOnnx(s, m.getState());
  m.dispose();
  await assert.rejects(evaluateOnnx(bytes, s.inputShape, new Float32Array(63), new Int32Array(1)), (e) => isTinyProtoError(e, 'E_SHAPE'));
  const empty = await evaluateOnnx(bytes, s.inputShape, new Float32Array(0), new Int32Array(0));
  assert.equal(empty.count, 0);
  assert.equal(empty.accuracy, 0);
  const train = buildTrainGraph(s, 'sgd').bytes;
  await assert.rejects(evaluateOnnx(train, s.inputShape, new Float32Array(64), new Int32Array(1)), (e) => isTinyProtoError(e, 'E_MODEL') && /not a tinyproto model/.test(e.message));
});
