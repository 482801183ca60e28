/**
 * Cross-engine agreement: the ONNX Runtime engine and the TensorFlow.js (wasm) engine build the
 * same model from the same spec and seed, compute the same embeddings from the same state, and
 * take the same training steps (up to float rounding).
 *
 * Tolerances: embeddings 1e-4 (max abs diff / max abs value; observed ~1e-6); after one epoch,
 * losses 1e-4 relative and every state tensor 1e-3 of its scale (see stateScale).
 *
 * The training comparison is deliberately short (two steps, lr 0.02, batches of 10): training
 * these networks is chaotic at float32 precision. Rounding differences of ~1e-7 occasionally put
 * a ReLU/ReLU6 input on the other side of its kink in one engine, which changes a few gradient
 * terms, and batch norm spreads that change over whole channels; such an event moves the
 * stem-convolution step by up to ~1e-2 relative (and multi-step epochs amplify it). It happens as
 * much between tfjs's own cpu and wasm backends, and rescaling the input by 1 + 1e-5 makes a given
 * event disappear. The data below (seed 43) has no such event at these tolerances; with other
 * data the state check can fail for this reason alone, while losses stay within ~3e-5.
 */
import { test, before, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { TfjsEngine } from '../tfjs/engine.ts';
import { OrtEngine } from './engine.ts';
import { FAMILIES } from '../zoo-info.ts';
import type { Engine, ModelSpec, ModelState } from '../engine.ts';
import { SHAPES, randomImages, spec, trainOpts } from '../../test/helpers/engine-contract.ts';
import { relDiff } from '../../test/helpers/assert.ts';

let tfjs: Engine;
let ort: Engine;

before(async () => {
  tfjs = await TfjsEngine.create({ backend: 'wasm' });
  ort = await OrtEngine.create({ threads: 1 });
});

const EMBED_TOL = 1e-4;
const STATE_TOL = 1e-3;
const LOSS_TOL = 1e-4;

const imageSize = (s: ModelSpec): number => s.inputShape[0] * s.inputShape[1] * s.inputShape[2];

function labels(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i % 4);
}

test('same spec and seed give identical initial states, param counts and FLOPs', () => {
  for (const family of FAMILIES) {
    for (const shape of [[8, 8, 1] as [number, number, number], ...SHAPES]) {
      for (const seed of [7, 123]) {
        const s = spec(family, shape, { seed });
        const t = tfjs.createModel(s);
        const o = ort.createModel(s);
        try {
          const where = `${family} ${shape.join('x')} seed ${seed}`;
          assert.equal(o.paramCount, t.paramCount, where);
          assert.equal(o.flopsPerImage, t.flopsPerImage, where);
          const st = t.getState();
          const so = o.getState();
          assert.deepEqual(Object.keys(so).sort(), Object.keys(st).sort(), where);
          for (const [name, a] of Object.entries(st)) {
            const b = so[name]!;
            assert.deepEqual(b.shape, a.shape, `${where} ${name}`);
            assert.deepEqual(b.data, a.data, `${where} ${name}`);
          }
        } finally {
          t.dispose();
          o.dispose();
        }
      }
    }
  }
});

/** A tfjs model of `s` after two epochs (so that batch-norm running statistics are non-trivial). */
const pretrained = new Map<string, Promise<ModelState>>();
function pretrainedState(s: ModelSpec): Promise<ModelState> {
  const key = `${s.family}|${s.inputShape.join('x')}`;
  let p = pretrained.get(key);
  if (p === undefined) {
    p = (async () => {
      const m = tfjs.createModel(s);
      try {
        const n = 16;
        const x = randomImages(n, imageSize(s), 41);
        const y = labels(n);
        for (let e = 0; e < 2; e++) await m.trainEpoch(x, y, trainOpts({ batchSize: 8, lr: 0.05, shuffleSeed: e }));
        return m.getState();
      } finally {
        m.dispose();
      }
    })();
    pretrained.set(key, p);
  }
  return p;
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/**
 * The scale a state tensor is compared at: its largest magnitude, except for the two batch-norm
 * tensors that act additively next to another one. A batch-norm shift (`.bias`) is added to
 * gamma * x_hat, so it is measured against max(|beta|, |gamma|); a running mean is subtracted
 * from inputs of spread sqrt(running_var), so it is measured against max(|mean|, sqrt(var)).
 * Without this, shifts whose gradient is zero in exact arithmetic (a batch norm followed by a
 * linear layer and another batch norm: ~1e-9 after training, pure rounding noise in both
 * engines) and running means of such layers' outputs would be compared noise against noise.
 */
function stateScale(state: ModelState, name: string): number {
  const own = state[name]!.data;
  let scale = maxAbs(own);
  if (name.endsWith('.bias')) {
    const gamma = state[name.replace(/bias$/, 'weight')];
    if (gamma !== undefined && state[name.replace(/bias$/, 'running_mean')] !== undefined) scale = Math.max(scale, maxAbs(gamma.data));
  }
  if (name.endsWith('.running_mean')) {
    const v = state[name.replace(/running_mean$/, 'running_var')]!.data;
    for (const x of v) scale = Math.max(scale, Math.sqrt(Math.max(x, 0)));
  }
  return scale;
}

function assertNonTrivialRunningStats(state: ModelState, where: string): void {
  const means = Object.entries(state).filter(([k]) => k.endsWith('.running_mean'));
  const vars = Object.entries(state).filter(([k]) => k.endsWith('.running_var'));
  assert.ok(means.length > 0 && vars.length > 0, `${where}: no batch norm?`);
  assert.ok(means.every(([, v]) => v.data.some((a) => a !== 0)), `${where}: a running mean is still zero`);
  assert.ok(vars.every(([, v]) => v.data.some((a) => a !== 1)), `${where}: a running variance is still one`);
}

for (const family of FAMILIES) {
  for (const shape of SHAPES) {
    const s = spec(family, shape);
    const where = `${family} ${shape.join('x')}`;

    test(`${where}: a tfjs state loaded into ort gives the same embeddings`, async (t: TestContext) => {
      const state = await pretrainedState(s);
      assertNonTrivialRunningStats(state, where);
      const mt = tfjs.createModel(s);
      const mo = ort.createModel(s);
      try {
        mt.setState(state);
        mo.setState(state);
        const n = 6;
        const x = randomImages(n, imageSize(s), 42);
        const et = await mt.embed(x, n);
        const eo = await mo.embed(x, n, 4);
        const rf = relDiff(eo.features, et.features);
        const rl = relDiff(eo.logits, et.logits);
        t.diagnostic(`${where}: features rel ${rf.toExponential(2)}, logits rel ${rl.toExponential(2)}`);
        assert.ok(rf <= EMBED_TOL, `${where}: features differ, max abs diff / max abs = ${rf}`);
        assert.ok(rl <= EMBED_TOL, `${where}: logits differ, max abs diff / max abs = ${rl}`);
      } finally {
        mt.dispose();
        mo.dispose();
      }
    });

    test(`${where}: one trainEpoch from the same state gives the same state and losses`, async (t: TestContext) => {
      const state = await pretrainedState(s);
      const mt = tfjs.createModel(s);
      const mo = ort.createModel(s);
      try {
        mt.setState(state);
        mo.setState(state);
        const n = 20; // two batches of 10
        const x = randomImages(n, imageSize(s), 43);
        const y = labels(n);
        const opts = trainOpts({
          batchSize: 10,
          lr: 0.02,
          lambda: 10,
          globalPrototypes: randomImages(4, s.featureDim, 44),
          hasGlobal: Uint8Array.from([1, 0, 1, 0]),
          shuffleSeed: 5,
        });
        const st = await mt.trainEpoch(x, y, opts);
        const so = await mo.trainEpoch(x, y, opts);
        assert.equal(so.steps, st.steps, where);
        assert.equal(so.samples, st.samples, where);
        assert.equal(st.steps, 2);
        assert.ok(st.protoLoss > 0, `${where}: proto term is off`);
        const lossRel: string[] = [];
        for (const k of ['loss', 'ceLoss', 'protoLoss', 'gradNormMax'] as const) {
          const rel = Math.abs(so[k] - st[k]) / Math.abs(st[k]);
          lossRel.push(`${k} ${rel.toExponential(2)}`);
          assert.ok(rel <= LOSS_TOL, `${where}: ${k} tfjs ${st[k]} ort ${so[k]} (rel ${rel})`);
        }
        const a = mt.getState();
        const b = mo.getState();
        assert.deepEqual(Object.keys(b).sort(), Object.keys(a).sort());
        let worst = { name: '', rel: 0 };
        const bad: string[] = [];
        for (const [name, va] of Object.entries(a)) {
          const vb = b[name]!;
          assert.deepEqual(vb.shape, va.shape, name);
          const diff = maxAbsDiff(vb.data, va.data);
          const rel = diff === 0 ? 0 : diff / stateScale(a, name);
          if (rel > worst.rel) worst = { name, rel };
          if (!(rel <= STATE_TOL)) bad.push(`${name} rel ${rel.toExponential(2)}`);
        }
        t.diagnostic(`${where}: ${lossRel.join(', ')}; worst state tensor ${worst.name} rel ${worst.rel.toExponential(2)}`);
        assert.deepEqual(bad, [], `${where}: state tensors differ by more than ${STATE_TOL} of their scale`);
      } finally {
        mt.dispose();
        mo.dispose();
      }
    });
  }
}
