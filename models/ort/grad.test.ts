/**
 * Gradients of the ONNX Runtime graphs against TensorFlow.js (wasm backend, whose gradients
 * match tfjs's reference cpu backend to ~1e-6): for every layer type (net.ts) and for every
 * backbone's full training loss (graphs.ts). Tolerance: 1e-4 relative, measured per tensor as
 * max |ort - tfjs| / max |tfjs|.
 *
 * In whole backbones some gradients are zero in exact arithmetic and only float noise (~1e-8)
 * in both engines: the shift of a batch norm followed by a linear layer and another batch norm,
 * and the scale of one followed by ReLU/ReLU6 (positively homogeneous) and then a linear layer
 * and a batch norm. Backbone tensors are therefore compared relative to
 * max(max |tfjs|, 1e-2 x the model's largest gradient): a tensor whose gradients are all below 1%
 * of the largest is held to an absolute error of 1e-6 x the largest.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import type * as TfCore from '@tensorflow/tfjs-core';
import { initTfjs } from '../tfjs/backend.ts';
import { NetBuilder, ParamStore, channelShuffle, channelSplit, globalAvgPool, type FwdCtx, type Tensor4D, type Tensor2D } from '../tfjs/layers.ts';
import { buildNet } from '../tfjs/net.ts';
import { tfjsLoss } from '../tfjs/engine.ts';
import { FAMILIES } from '../zoo-info.ts';
import type { Family, ModelSpec } from '../engine.ts';
import { Rng } from '../../common/rng.ts';
import { relDiff } from '../../test/helpers/assert.ts';
import { OrtNetBuilder } from './net.ts';
import type { V2, V4 } from './values.ts';
import { buildTrainGraph, contrastFeeds, gradName, nextName } from './graphs.ts';
import { clipLimit } from '../train-args.ts';
import { contrastInputs, prototypeContrastLoss } from '../contrast.ts';
import { createSession, loadOrt, type Ort, type OrtTensor } from './runtime.ts';

type Tf = typeof TfCore;
let tf: Tf;
let ort: Ort;
const TOL = 1e-4;

before(async () => {
  tf = (await initTfjs({ backend: 'wasm' })).tf as Tf;
  ort = await loadOrt();
});

function randn(n: number, seed: number, scale = 1): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * scale;
  return out;
}


function close(label: string, ortValue: Float32Array, tfValue: Float32Array, floor = 0): void {
  const e = relDiff(ortValue, tfValue, floor);
  assert.ok(e <= TOL, `${label}: relative error ${e.toExponential(2)} > ${TOL}`);
}

/** NHWC [n,h,w,c] <-> NCHW [n,c,h,w]. */
function toNchw(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let y = 0; y < h; y++) for (let z = 0; z < w; z++) for (let k = 0; k < c; k++) out[((i * c + k) * h + y) * w + z] = x[((i * h + y) * w + z) * c + k]!;
  return out;
}
function toNhwc(x: Float32Array, n: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < n; i++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let z = 0; z < w; z++) out[((i * h + y) * w + z) * c + k] = x[((i * c + k) * h + y) * w + z]!;
  return out;
}

async function run(bytes: Uint8Array, feeds: Record<string, OrtTensor>): Promise<Record<string, Float32Array>> {
  const session = await createSession(ort, bytes, { threads: 1, provider: 'cpu' });
  const out = await session.run(feeds);
  await session.release();
  const res: Record<string, Float32Array> = {};
  for (const [k, v] of Object.entries(out)) res[k] = v.data as Float32Array;
  return res;
}

const N = 3;

/**
 * One layer case: the ORT layer on input [N, c, h, w] and the same tfjs layer on NHWC; the loss
 * is sum(y * r) for a random r, so dy = r. Compares y, dx and every parameter gradient.
 */
interface LayerCase {
  readonly name: string;
  readonly in: readonly [number, number, number]; // [h, w, c]
  /** Input scale (relu6 needs values beyond 6). */
  readonly scale?: number;
  /** Parameter gradients that are zero in exact arithmetic are present: compare with the backbones' floor. */
  readonly floor?: boolean;
  ort(b: OrtNetBuilder, x: V4): V4 | V2;
  tfjs(b: NetBuilder, x: Tensor4D, shape: readonly [number, number, number], ctx: FwdCtx): () => Tensor4D | Tensor2D;
}

const conv = (k: number, s: number, co: number): Pick<LayerCase, 'ort' | 'tfjs'> => ({
  ort: (b, x) => b.conv('l', x, { filters: co, kernel: k, stride: s }),
  tfjs: (b, x, shape) => {
    const l = b.conv2d('l', shape, { filters: co, kernel: k, stride: s });
    return () => l.apply(x, { training: true, moments: [] });
  },
});
const depthwise = (k: number, s: number): Pick<LayerCase, 'ort' | 'tfjs'> => ({
  ort: (b, x) => b.conv('l', x, { filters: x.c, kernel: k, stride: s, depthwise: true }),
  tfjs: (b, x, shape) => {
    const l = b.depthwise('l', shape, { kernel: k, stride: s });
    return () => l.apply(x, { training: true, moments: [] });
  },
});

const LAYER_CASES: LayerCase[] = [
  ...([
    [1, 1, 7],
    [1, 2, 8],
    [3, 1, 7],
    [3, 1, 8],
    [3, 2, 7],
    [3, 2, 8],
    [5, 1, 7],
    [5, 2, 9],
  ] as const).map(([k, s, hw]): LayerCase => ({ name: `conv ${k}x${k}/s${s} on ${hw}x${hw}x3 -> 4`, in: [hw, hw, 3], ...conv(k, s, 4) })),
  ...([
    [3, 1, 7],
    [3, 2, 8],
    [3, 2, 7],
    [5, 1, 8],
    [5, 2, 9],
  ] as const).map(([k, s, hw]): LayerCase => ({ name: `depthwise ${k}x${k}/s${s} on ${hw}x${hw}x5`, in: [hw, hw, 5], ...depthwise(k, s) })),
  {
    name: 'batch norm (training mode)',
    in: [5, 6, 4],
    ort: (b, x) => b.batchNorm('l', x),
    tfjs: (b, x, shape, ctx) => {
      const l = b.batchNorm('l', shape);
      return () => l.apply(x, ctx);
    },
  },
  {
    // the conv takes batch norm's per-channel scale into its weights (net.ts gradScale)
    name: 'conv 3x3/s2 + batch norm + depthwise 3x3 + batch norm',
    in: [7, 8, 3],
    // bn1's shift and scale are undone by bn2 (through the linear depthwise conv): their
    // gradients are zero in exact arithmetic
    floor: true,
    ort: (b, x) => {
      const y = b.batchNorm('bn1', b.conv('c1', x, { filters: 4, kernel: 3, stride: 2 }));
      return b.batchNorm('bn2', b.conv('c2', y, { filters: 4, kernel: 3, depthwise: true }));
    },
    tfjs: (b, x, shape, ctx) => {
      const c1 = b.conv2d('c1', shape, { filters: 4, kernel: 3, stride: 2 });
      const bn1 = b.batchNorm('bn1', c1.shape);
      const c2 = b.depthwise('c2', bn1.shape, { kernel: 3 });
      const bn2 = b.batchNorm('bn2', c2.shape);
      return () => bn2.apply(c2.apply(bn1.apply(c1.apply(x, ctx), ctx), ctx), ctx);
    },
  },
  { name: 'relu', in: [4, 4, 3], ort: (b, x) => b.relu(x), tfjs: (b, x) => () => b.tf.relu(x) },
  { name: 'relu6', in: [4, 4, 3], scale: 5, ort: (b, x) => b.relu6(x), tfjs: (b, x) => () => b.tf.relu6(x) },
  {
    name: 'residual add (x + relu(x))',
    in: [4, 4, 3],
    ort: (b, x) => b.add(x, b.relu(x)),
    tfjs: (b, x) => () => b.tf.add(x, b.tf.relu(x)) as Tensor4D,
  },
  {
    name: 'channel split, concat and shuffle',
    in: [3, 4, 6],
    ort: (b, x) => {
      const [p, q] = b.split(x, 2);
      return b.channelShuffle(b.concat(b.relu(q), p), 2);
    },
    tfjs: (b, x) => () => {
      const [p, q] = channelSplit(b.tf, x, 2);
      return channelShuffle(b.tf, b.tf.concat([b.tf.relu(q), p], 3), 2);
    },
  },
  { name: 'global average pool', in: [5, 3, 4], ort: (b, x) => b.globalAvgPool(x), tfjs: (b, x) => () => globalAvgPool(b.tf, x) },
  {
    name: 'dense (after pooling)',
    in: [2, 2, 6],
    ort: (b, x) => b.dense('l', b.globalAvgPool(x), 5),
    tfjs: (b, x, shape) => {
      const l = b.dense('l', shape[2], 5);
      return () => l.apply(globalAvgPool(b.tf, x));
    },
  },
];

for (const lc of LAYER_CASES) {
  test(`layer gradient matches tfjs: ${lc.name}`, async () => {
    const [h, w, c] = lc.in;
    const xNhwc = randn(N * h * w * c, 11, lc.scale ?? 1);
    // tfjs: loss = sum(y * r)
    const store = new ParamStore(tf, 5, 'grad');
    const nb = new NetBuilder(tf, store);
    const xt = tf.tensor4d(xNhwc, [N, h, w, c]);
    const ctx: FwdCtx = { training: true, moments: [] };
    const forward = lc.tfjs(nb, xt, lc.in, ctx);
    const yShape = tf.tidy(() => forward().shape);
    const r = randn(yShape.reduce((a, b) => a * b, 1), 12);
    const rt = tf.tensor(r, yShape);
    const vars = store.trainableVariables();
    const f = (): TfCore.Scalar => tf.sum(tf.mul(forward(), rt));
    const { value, grads } = vars.length > 0 ? tf.variableGrads(f, vars) : { value: f(), grads: {} as Record<string, TfCore.Tensor> };
    const dxT = tf.grad((xi: TfCore.Tensor) => tf.sum(tf.mul(lc.tfjs(new NetBuilder(tf, store2(store)), xi as Tensor4D, lc.in, { training: true, moments: [] })(), rt)))(xt);
    const yT = tf.tidy(() => forward());
    // ORT
    const b = new OrtNetBuilder('train', null, 'layer');
    const x = b.activationInput('xin', c, h, w);
    const y = lc.ort(b, x);
    const is4 = 'c' in y;
    const yOnnxShape = is4 ? [N, y.c, y.h, y.w] : [N, y.dim];
    b.g.input('dy', is4 ? ['N', y.c, y.h, y.w] : ['N', y.dim]);
    const grads0 = b.backward(y.name, 'dy');
    b.g.output('y', y.name, is4 ? ['N', y.c, y.h, y.w] : ['N', y.dim]);
    b.g.output('dx', b.gradOf('xin')!, ['N', c, h, w]);
    for (const [p, gname] of grads0) b.g.output(gradName(p), gname, b.params.find((q) => q.name === p)!.shape);
    const rOnnx = is4 ? toNchw(r, N, yShape[1]!, yShape[2]!, yShape[3]!) : r;
    const feeds: Record<string, OrtTensor> = {
      xin: new ort.Tensor('float32', toNchw(xNhwc, N, h, w, c), [N, c, h, w]),
      dy: new ort.Tensor('float32', rOnnx, yOnnxShape),
    };
    for (const e of store.entries) {
      if (b.params.some((p) => p.name === e.name)) feeds[e.name] = new ort.Tensor('float32', e.variable.dataSync() as Float32Array, [...e.shape]);
    }
    const out = await run(b.g.toBytes(), feeds);
    const yOrt = is4 ? toNhwc(out['y']!, N, y.c, y.h, y.w) : out['y']!;
    close('y', yOrt, yT.dataSync() as Float32Array);
    close('dx', toNhwc(out['dx']!, N, c, h, w), dxT.dataSync() as Float32Array);
    const trainable = store.entries.filter((e) => e.trainable);
    let largest = 0;
    for (const e of trainable) for (const v of grads[e.variable.name]!.dataSync()) largest = Math.max(largest, Math.abs(v));
    for (const e of trainable) close(`d ${e.name}`, out[gradName(e.name)]!, grads[e.variable.name]!.dataSync() as Float32Array, lc.floor === true ? 1e-2 * largest : 0);
    tf.dispose([xt, rt, value, dxT, yT, ...Object.values(grads)]);
    store.dispose();
  });
}

/** A second store that reuses the first store's variables (same names, same values) for tf.grad over x. */
function store2(s: ParamStore): ParamStore {
  const proxy = Object.create(s) as ParamStore;
  (proxy as { add: ParamStore['add'] }).add = (name: string) => s.get(name)!.variable;
  return proxy;
}

function spec(family: Family, inputShape: [number, number, number]): ModelSpec {
  return { family, inputShape, featureDim: 24, numClasses: 5, seed: 3 };
}

for (const family of FAMILIES) {
  for (const shape of [
    [12, 12, 1],
    [11, 13, 3],
  ] as [number, number, number][]) {
    // the second shape also turns the prototype contrast on (models/contrast.ts), class 1 not a candidate
    const withContrast = shape[2] === 3;
    test(`${family} ${shape.join('x')}: full-loss gradients and one SGD step match tfjs${withContrast ? ' (with the prototype contrast)' : ''}`, async () => {
      const s = spec(family, shape);
      const B = 4;
      const [h, w, c] = shape;
      const K = s.numClasses;
      const d = s.featureDim;
      const x = randn(B * h * w * c, 21);
      const y = Int32Array.from({ length: B }, (_, i) => i % K);
      const protos = randn(K * d, 22, 0.5);
      const flags = Float32Array.from({ length: K }, (_, j) => (j === 1 ? 0 : 1));
      const lambda = 10;
      const lr = 0.01;
      const contrast = withContrast
        ? contrastInputs(K, d, { weight: 0.7, prototypes: protos, dimWeights: Float32Array.from({ length: K * d }, (_, k) => (k % 3 === 0 ? 0 : 0.5 + (k % 7) / 7)), available: Uint8Array.from(flags) })
        : contrastInputs(K, d, null);
      const ct = withContrast
        ? { gamma: contrast.gamma, w: tf.tensor2d(contrast.w, [K, d]), wp: tf.tensor2d(contrast.wp, [K, d]), c: tf.tensor1d(contrast.c), available: tf.tensor1d(contrast.available) }
        : null;
      // tfjs
      const net = buildNet(tf, s);
      const ctx: FwdCtx = { training: true, moments: [] };
      const xt = tf.tensor4d(x, [B, h, w, c]);
      const yt = tf.tensor1d(y, 'int32');
      const pt = tf.tensor2d(protos, [K, d]);
      const wt = tf.tensor1d(flags);
      const vars = net.store.trainableVariables();
      let lossParts: { ce: number; proto: number; features: Float32Array } | null = null;
      const { value, grads } = tf.variableGrads(() => {
        const parts = tfjsLoss(tf, net, xt, yt, pt, wt, lambda, ctx, ct);
        lossParts = { ce: parts.ce.dataSync()[0]!, proto: parts.proto.dataSync()[0]!, features: Float32Array.from(parts.features.dataSync()) };
        return parts.total as TfCore.Scalar;
      }, vars);
      if (withContrast) {
        // tfjs's contrast term against the float64 reference on the same (training-mode) features
        const lp = lossParts as unknown as { ce: number; proto: number; features: Float32Array };
        const ref = prototypeContrastLoss(lp.features, y, d, contrast);
        const measured = (value.dataSync()[0] as number) - lp.ce - lambda * lp.proto;
        assert.ok(ref.loss > 0 && Math.abs(measured - contrast.gamma * ref.loss) <= 1e-4 * Math.abs(contrast.gamma * ref.loss) + 1e-5, `contrast ${measured} vs ${contrast.gamma * ref.loss}`);
      }
      // ORT: gradients, then an SGD step from the same weights
      const onehot = new Float32Array(B * K);
      const target = new Float32Array(B * d);
      const weight = new Float32Array(B);
      for (let i = 0; i < B; i++) {
        onehot[i * K + y[i]!] = 1;
        target.set(protos.subarray(y[i]! * d, (y[i]! + 1) * d), i * d);
        weight[i] = flags[y[i]!]!;
      }
      const feeds: Record<string, OrtTensor> = {
        x: new ort.Tensor('float32', x, [B, h, w, c]),
        onehot: new ort.Tensor('float32', onehot, [B, K]),
        protoTarget: new ort.Tensor('float32', target, [B, d]),
        protoWeight: new ort.Tensor('float32', weight, [B, 1]),
        lambda: new ort.Tensor('float32', new Float32Array([lambda]), []),
      };
      for (const f of contrastFeeds(contrast, K, d)) feeds[f.name] = new ort.Tensor('float32', f.values, f.dims);
      for (const e of net.store.entries) feeds[e.name] = new ort.Tensor('float32', Float32Array.from(e.variable.dataSync() as Float32Array), [...e.shape]);
      const gOut = await run(buildTrainGraph(s, 'grads').bytes, feeds);
      assert.ok(Math.abs(gOut['loss']![0]! - (value.dataSync()[0] as number)) <= TOL * Math.abs(value.dataSync()[0] as number), 'loss');
      const trainable = net.store.entries.filter((e) => e.trainable);
      let largest = 0;
      let squares = 0; // for the step's reported global L2 norm, below
      for (const e of trainable) {
        for (const v of grads[e.variable.name]!.dataSync()) {
          largest = Math.max(largest, Math.abs(v));
          squares += v * v;
        }
      }
      for (const e of trainable) close(`d ${e.name}`, gOut[gradName(e.name)]!, grads[e.variable.name]!.dataSync() as Float32Array, 1e-2 * largest);
      const sOut = await run(buildTrainGraph(s, 'sgd').bytes, {
        ...feeds,
        lr: new ort.Tensor('float32', new Float32Array([lr]), []),
        clipNorm: new ort.Tensor('float32', Float32Array.of(clipLimit(undefined)), []), // off: the plain step
      });
      // the step reports the global L2 norm of the gradient it took
      assert.ok(Math.abs(sOut['gradNorm']![0]! - Math.sqrt(squares)) <= 1e-2 * Math.sqrt(squares), 'gradNorm');
      // tfjs step: w -= lr * g, then running statistics
      tf.tidy(() => {
        for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, lr)));
      });
      for (const m of ctx.moments) m.layer.updateRunning(m.mean, m.variance, m.count);
      for (const e of net.store.entries) close(`${e.name} after one step`, sOut[nextName(e.name)]!, e.variable.dataSync() as Float32Array, 1e-3);
      for (const m of ctx.moments) tf.dispose([m.mean, m.variance]);
      tf.dispose([xt, yt, pt, wt, value, ...Object.values(grads), ...(ct === null ? [] : [ct.w, ct.wp, ct.c, ct.available])]);
      net.store.dispose();
    });
  }
}
