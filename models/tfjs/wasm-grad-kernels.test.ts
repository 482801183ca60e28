/**
 * The wasm gradient kernels against the cpu backend's reference kernels, plus memory behaviour
 * and initTfjs. Both backends live in this process: every case is computed from the same plain
 * arrays on cpu first, then on wasm.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type * as TfCore from '@tensorflow/tfjs-core';
import { initTfjs, tfjsMemory } from './backend.ts';
import { registerWasmGradKernels, WASM_GRAD_KERNEL_NAMES } from './wasm-grad-kernels.ts';
import { isTinyProtoError } from '../../common/errors.ts';
import { memoryLogger } from '../../common/logger.ts';

type Tf = typeof TfCore;
type Pad = 'same' | 'valid' | number;

const hasTfjsNode = ((): boolean => {
  try {
    import.meta.resolve('@tensorflow/tfjs-node');
    return true;
  } catch {
    return false;
  }
})();

// IS_TEST: tfjs checks every kernel for leaked data ids, and stays quiet on the console.
const { tf } = await initTfjs({ backend: 'cpu', allowCpu: true });
tf.env().set('IS_TEST', true);

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = s / 4294967296 - 0.5;
  }
  return a;
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

interface Case {
  depthwise: boolean;
  batch: number;
  h: number;
  w: number;
  ci: number;
  /** Output channels (conv) or channel multiplier (depthwise). */
  co: number;
  kh: number;
  kw: number;
  strides: number | [number, number];
  pad: Pad;
}

const label = (c: Case): string =>
  `${c.depthwise ? 'dw' : 'conv'} b${c.batch} ${c.h}x${c.w}x${c.ci}->${c.co} k${c.kh}x${c.kw} s${String(c.strides)} ${c.pad}`;

/** d/dx and d/dW of sum(conv(x, W) * r) on the active backend. */
function grads(tfx: Tf, c: Case): [Float32Array, Float32Array] {
  return tfx.tidy(() => {
    const x = tfx.tensor4d(rand(c.batch * c.h * c.w * c.ci, 11), [c.batch, c.h, c.w, c.ci]);
    const wt = tfx.tensor4d(rand(c.kh * c.kw * c.ci * c.co, 22), [c.kh, c.kw, c.ci, c.co]);
    const fwd = (a: TfCore.Tensor, b: TfCore.Tensor): TfCore.Tensor4D =>
      c.depthwise
        ? tfx.depthwiseConv2d(a as TfCore.Tensor4D, b as TfCore.Tensor4D, c.strides, c.pad as 'same')
        : tfx.conv2d(a as TfCore.Tensor4D, b as TfCore.Tensor4D, c.strides, c.pad as 'same');
    const yShape = fwd(x, wt).shape;
    const r = tfx.tensor(rand(yShape.reduce((p, q) => p * q, 1), 33), yShape);
    const [gx, gw] = tfx.grads((a: TfCore.Tensor, b: TfCore.Tensor) => tfx.sum(tfx.mul(fwd(a, b), r)))([x, wt]);
    return [gx!.dataSync() as Float32Array, gw!.dataSync() as Float32Array];
  });
}

const CASES: Case[] = [];
for (const depthwise of [false, true]) {
  for (const strides of [1, 2] as const) {
    for (const pad of ['same', 'valid'] as const) {
      for (const k of depthwise ? [3] : [1, 3]) {
        for (const [h, w] of [[7, 7], [8, 6]] as const) {
          for (const batch of [1, 3]) {
            CASES.push({ depthwise, batch, h, w, ci: 3, co: depthwise ? 1 : 5, kh: k, kw: k, strides, pad });
          }
        }
      }
    }
  }
}
// Beyond the matrix: other kernel sizes and strides (polyphase input gradient), explicit and
// asymmetric padding, unequal strides, channel multiplier 2.
CASES.push(
  { depthwise: false, batch: 2, h: 9, w: 10, ci: 4, co: 3, kh: 5, kw: 5, strides: 2, pad: 'same' },
  { depthwise: false, batch: 2, h: 11, w: 9, ci: 2, co: 3, kh: 4, kw: 2, strides: 3, pad: 'valid' },
  { depthwise: false, batch: 2, h: 9, w: 8, ci: 2, co: 3, kh: 3, kw: 5, strides: 3, pad: 'same' },
  { depthwise: false, batch: 2, h: 9, w: 7, ci: 3, co: 4, kh: 3, kw: 3, strides: 2, pad: 1 },
  { depthwise: false, batch: 1, h: 8, w: 9, ci: 3, co: 2, kh: 3, kw: 5, strides: [2, 1], pad: 'same' },
  { depthwise: false, batch: 2, h: 9, w: 6, ci: 3, co: 4, kh: 3, kw: 5, strides: [2, 3], pad: 'valid' },
  { depthwise: true, batch: 2, h: 9, w: 7, ci: 4, co: 1, kh: 5, kw: 5, strides: 2, pad: 'same' },
  { depthwise: true, batch: 3, h: 7, w: 8, ci: 2, co: 2, kh: 3, kw: 3, strides: 2, pad: 'same' },
  { depthwise: true, batch: 2, h: 8, w: 8, ci: 3, co: 1, kh: 3, kw: 3, strides: 1, pad: 1 },
);

// Reference values on cpu, computed before any switch to wasm.
const reference = CASES.map((c) => grads(tf, c));

await initTfjs({ backend: 'wasm' });

const TOL = 1e-4;

function checkAll(t: { diagnostic(msg: string): void }, what: string): void {
  let worstX = 0;
  let worstW = 0;
  CASES.forEach((c, i) => {
    const [gx, gw] = grads(tf, c);
    const [rx, rw] = reference[i]!;
    const dx = maxAbsDiff(gx, rx);
    const dw = maxAbsDiff(gw, rw);
    worstX = Math.max(worstX, dx);
    worstW = Math.max(worstW, dw);
    assert.ok(dx <= TOL && dw <= TOL, `${label(c)}: max |d dx| ${dx}, max |d dW| ${dw}`);
  });
  t.diagnostic(`${what}: ${CASES.length} cases, max abs diff vs cpu: dx ${worstX.toExponential(2)}, dW ${worstW.toExponential(2)}`);
}

test('wasm gradients of conv2d and depthwiseConv2d match the cpu backend', (t) => {
  assert.equal(tf.getBackend(), 'wasm');
  for (const k of WASM_GRAD_KERNEL_NAMES) assert.ok(tf.getKernel(k, 'wasm'), k);
  checkAll(t, 'fast Conv2DBackpropInput');
});

test("the wasm backend's native Conv2DBackpropInput can be restored and also matches", (t) => {
  try {
    registerWasmGradKernels({ fastConv2DBackpropInput: false });
    checkAll(t, 'native Conv2DBackpropInput');
  } finally {
    registerWasmGradKernels();
  }
});

test('registerWasmGradKernels is idempotent', () => {
  const before = WASM_GRAD_KERNEL_NAMES.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc);
  const bpi = tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc;
  registerWasmGradKernels();
  registerWasmGradKernels();
  assert.deepEqual(
    WASM_GRAD_KERNEL_NAMES.map((k) => tf.getKernel(k, 'wasm')!.kernelFunc),
    before,
  );
  assert.equal(tf.getKernel('Conv2DBackpropInput', 'wasm')!.kernelFunc, bpi);
});

/** Engine tensors and wasm-backend buffers (intermediates leaked by a kernel show only in the latter). */
function counts(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() };
}

test('repeated gradient steps on wasm leak neither tensors nor backend buffers', () => {
  const x = tf.tensor4d(rand(4 * 9 * 9 * 3, 5), [4, 9, 9, 3]);
  const w1 = tf.variable(tf.tensor4d(rand(3 * 3 * 3 * 8, 6), [3, 3, 3, 8]));
  const w2 = tf.variable(tf.tensor4d(rand(3 * 3 * 8 * 1, 7), [3, 3, 8, 1]));
  const w3 = tf.variable(tf.tensor4d(rand(1 * 1 * 8 * 4, 8), [1, 1, 8, 4]));
  const step = (): void => {
    tf.tidy(() => {
      const { value, grads: g } = tf.variableGrads(() => {
        let h = tf.relu(tf.conv2d(x, w1 as TfCore.Tensor4D, 2, 'same'));
        h = tf.relu(tf.depthwiseConv2d(h, w2 as TfCore.Tensor4D, 2, 'same'));
        h = tf.conv2d(h, w3 as TfCore.Tensor4D, 1, 'valid');
        return tf.mean(tf.square(h));
      });
      assert.equal(Object.keys(g).length, 3);
      for (const v of [w1, w2, w3]) v.assign(tf.sub(v, tf.mul(g[v.name]!, 0.1)));
      value.dataSync();
    });
  };
  step();
  const before = counts();
  for (let i = 0; i < 8; i++) step();
  assert.deepEqual(counts(), before);
  tf.dispose([x, w1, w2, w3]);
});

test('the kernels neither free nor modify their inputs, and free all intermediates', () => {
  const x = tf.tensor4d(rand(2 * 7 * 8 * 3, 1), [2, 7, 8, 3]);
  const f = tf.tensor4d(rand(3 * 3 * 3 * 4, 2), [3, 3, 3, 4]);
  const df = tf.tensor4d(rand(3 * 3 * 3 * 2, 3), [3, 3, 3, 2]);
  const dy = tf.tensor4d(rand(2 * 4 * 4 * 4, 4), [2, 4, 4, 4]);
  const dyd = tf.tensor4d(rand(2 * 4 * 4 * 6, 5), [2, 4, 4, 6]);
  const inputs = [x, f, df, dy, dyd];
  const snapshot = inputs.map((t) => t.dataSync().slice());
  const before = counts();
  const conv = { strides: [2, 2], pad: 'same', dataFormat: 'NHWC' };
  const dwise = { strides: [2, 2], pad: 'same', dilations: [1, 1] };
  const run = (kernel: string, ins: TfCore.NamedTensorMap, attrs: object): TfCore.Tensor =>
    tf.engine().runKernel(kernel, ins, attrs as TfCore.NamedAttrMap) as TfCore.Tensor;
  const outs = [
    run('Conv2DBackpropFilter', { x, dy }, { ...conv, filterShape: [3, 3, 3, 4] }),
    run('Conv2DBackpropInput', { dy, filter: f }, { ...conv, inputShape: x.shape }),
    run('DepthwiseConv2dNativeBackpropFilter', { x, dy: dyd }, { ...dwise, filterShape: [3, 3, 3, 2] }),
    run('DepthwiseConv2dNativeBackpropInput', { dy: dyd, filter: df }, { ...dwise, inputShape: x.shape }),
  ];
  assert.deepEqual(
    outs.map((o) => o.shape),
    [[3, 3, 3, 4], [2, 7, 8, 3], [3, 3, 3, 2], [2, 7, 8, 3]],
  );
  for (const o of outs) assert.ok(o.dataSync().every(Number.isFinite));
  // Inputs are still alive and unchanged.
  inputs.forEach((t, i) => assert.deepEqual(t.dataSync(), snapshot[i]));
  // Exactly one new buffer per output, none left behind once the outputs are disposed.
  assert.deepEqual(counts(), { tensors: before.tensors + 4, buffers: before.buffers + 4 });
  tf.dispose(outs);
  assert.deepEqual(counts(), before);
  tf.dispose(inputs);
});

test('unsupported attributes fail with E_BACKEND without leaking', () => {
  const x = tf.zeros([1, 5, 5, 2]);
  const dy = tf.zeros([1, 5, 5, 3]);
  const before = counts();
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NCHW',
        filterShape: [3, 3, 2, 3],
      }),
    (e: unknown) => isTinyProtoError(e, 'E_BACKEND') && /NHWC/.test(e.message),
  );
  assert.throws(
    () =>
      tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, {
        strides: 1,
        pad: 'same',
        dataFormat: 'NHWC',
        filterShape: [3, 3, 2, 4], // does not match dy's 3 channels
      }),
    (e: unknown) => isTinyProtoError(e, 'E_BACKEND'),
  );
  assert.deepEqual(counts(), before);
  tf.dispose([x, dy]);
});

test('initTfjs: auto picks wasm when tfjs-node is absent; tfjsMemory reports the wasm heap', { skip: hasTfjsNode && 'tfjs-node is installed' }, async () => {
  const { tf: tf2, backend } = await initTfjs();
  assert.equal(backend, 'wasm');
  assert.equal(tf2, tf);
  assert.equal(tf.getBackend(), 'wasm');
  const m = tfjsMemory();
  assert.equal(m.backend, 'wasm');
  assert.equal(typeof m.numTensors, 'number');
  assert.ok((m.wasmHeapBytes ?? 0) > 0);
  // Gradients are registered (tfjs-core's CommonJS build registers none by itself).
  assert.ok(tf.getGradient('Conv2D') && tf.getGradient('FusedBatchNorm') && tf.getGradient('Softmax'));
});

test("initTfjs: 'cpu' needs allowCpu (E_CPU_BACKEND), and warns when allowed", async () => {
  await assert.rejects(initTfjs({ backend: 'cpu' }), (e: unknown) => isTinyProtoError(e, 'E_CPU_BACKEND'));
  assert.equal(tf.getBackend(), 'wasm');
  const logger = memoryLogger();
  try {
    const { backend } = await initTfjs({ backend: 'cpu', allowCpu: true, logger });
    assert.equal(backend, 'cpu');
    assert.ok(logger.entries.some((e) => e.level === 'warn' && /100x slower/.test(e.msg)));
  } finally {
    await initTfjs({ backend: 'wasm' });
  }
});

test("initTfjs: 'tensorflow' without @tensorflow/tfjs-node fails with install instructions", { skip: hasTfjsNode && 'tfjs-node is installed' }, async () => {
  await assert.rejects(
    initTfjs({ backend: 'tensorflow' }),
    (e: unknown) =>
      isTinyProtoError(e, 'E_BACKEND') && /tfjs-node/.test(e.message) && /TFJS_NODE_BASE_URI/.test(e.message),
  );
  assert.equal(tf.getBackend(), 'wasm');
});
