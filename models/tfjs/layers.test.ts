import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { initTfjs } from './backend.ts';
import { NetBuilder, ParamStore, channelShuffle, channelSplit, type Tf, type Tensor, type Tensor4D } from './layers.ts';
import { BN_EPS, convOut } from '../arch/builder.ts';

let tf: Tf;

before(async () => {
  tf = (await initTfjs({ backend: 'wasm' })).tf as Tf;
});

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('conv output sizes follow PyTorch padding k//2 with floor rounding', () => {
  assert.equal(convOut(28, 3, 2), 14);
  assert.equal(convOut(7, 3, 2), 4);
  assert.equal(convOut(14, 1, 2), 7);
  assert.equal(convOut(7, 1, 2), 4);
  assert.equal(convOut(8, 5, 1), 8);
  const store = new ParamStore(tf, 1);
  try {
    const b = new NetBuilder(tf, store);
    const conv = b.conv2d('c', [7, 7, 2], { filters: 3, kernel: 3, stride: 2 });
    assert.deepEqual(conv.shape, [4, 4, 3]);
    const conv8 = b.conv2d('c8', [8, 8, 2], { filters: 1, kernel: 3, stride: 2 });
    assert.deepEqual(conv8.shape, [4, 4, 1]);
    store.get('c8.weight')!.variable.assign(tf.ones([3, 3, 2, 1]));
    const y = tf.tidy(() => conv8.apply(tf.ones([1, 8, 8, 2]) as Tensor4D, { training: false, moments: [] }));
    // symmetric padding: the top-left output sees 2x2 inputs (PyTorch), not 3x3 (TF 'same'
    // pads bottom/right only); the bottom-right sees 3x3
    const v = y.dataSync();
    assert.equal(v[0], 8);
    assert.equal(v[15], 18);
    y.dispose();
    assert.equal(b.flops, 2 * 4 * 4 * 9 * 2 * 3 + 2 * 4 * 4 * 9 * 2 * 1);
  } finally {
    store.dispose();
  }
});

test('channel shuffle matches PyTorch view/transpose semantics; split halves', () => {
  tf.tidy(() => {
    const x = tf.reshape(tf.range(0, 6, 1, 'float32'), [1, 1, 1, 6]) as Tensor4D;
    assert.deepEqual(Array.from(channelShuffle(tf, x, 2).dataSync()), [0, 3, 1, 4, 2, 5]);
    const [a, b] = channelSplit(tf, x, 2);
    assert.deepEqual(Array.from(a.dataSync()), [0, 1]);
    assert.deepEqual(Array.from(b.dataSync()), [2, 3, 4, 5]);
  });
});

test('batch norm: training output, custom gradient and running statistics match the reference', () => {
  const store = new ParamStore(tf, 3);
  try {
    const b = new NetBuilder(tf, store);
    const bn = b.batchNorm('bn', [3, 3, 4]);
    tf.tidy(() => {
      bn.gamma.assign(tf.tensor1d([1, 2, 0.5, -1]));
      bn.beta.assign(tf.tensor1d([0, 1, -1, 0.5]));
    });
    const x = tf.randomNormal([5, 3, 3, 4], 1, 2, 'float32', 3) as Tensor4D;
    const w = tf.randomNormal([5, 3, 3, 4], 0, 1, 'float32', 4);
    const moments: { mean: Tensor; variance: Tensor }[] = [];
    const loss = (useLayer: boolean) => (xx: Tensor, g: Tensor, bb: Tensor): Tensor => {
      if (useLayer) {
        const ctx = { training: true, moments: [] as never[] };
        const y = bn.apply(xx as Tensor4D, ctx);
        for (const m of ctx.moments as { mean: Tensor; variance: Tensor }[]) moments.push(m);
        return tf.sum(tf.mul(y, w));
      }
      const { mean, variance } = tf.moments(xx, [0, 1, 2]);
      const y = tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, BN_EPS))), g), bb);
      return tf.sum(tf.mul(y, w));
    };
    const [gl, gr] = tf.tidy(() => {
      const a = tf.grads(loss(true))([x, bn.gamma, bn.beta]);
      const r = tf.grads(loss(false))([x, bn.gamma, bn.beta]);
      return [a.map((t) => tf.keep(t)), r.map((t) => tf.keep(t))];
    });
    for (let i = 0; i < 3; i++) {
      assert.ok(maxAbsDiff(gl[i]!.dataSync(), gr[i]!.dataSync()) < 1e-4, `grad ${i}`);
    }
    // running statistics: momentum 0.1, unbiased variance
    const m = moments[0]!;
    bn.updateRunning(m.mean as never, m.variance as never, 45);
    const xs = x.dataSync();
    for (let c = 0; c < 4; c++) {
      let s = 0;
      let s2 = 0;
      for (let i = c; i < xs.length; i += 4) s += xs[i]!;
      const mu = s / 45;
      for (let i = c; i < xs.length; i += 4) s2 += (xs[i]! - mu) ** 2;
      assert.ok(Math.abs(bn.runningMean.dataSync()[c]! - 0.1 * mu) < 1e-5);
      assert.ok(Math.abs(bn.runningVar.dataSync()[c]! - (0.9 + 0.1 * (s2 / 44))) < 1e-4);
    }
    for (const t of [...gl, ...gr, x, w]) t.dispose();
    for (const mm of moments) {
      mm.mean.dispose();
      mm.variance.dispose();
    }
  } finally {
    store.dispose();
  }
});

