/**
 * The engine contract: behaviour that every implementation of models/engine.ts must share
 * (both engines validate and batch through models/train-args.ts, so they must agree).
 *
 * A per-engine test file calls `engineContract(label, makeEngine)` once; the engine is created
 * in a `before` hook and every test name starts with `label`. Engine-specific expectations
 * (name and backend strings, wasm heap, threads) stay in the per-engine test files.
 */
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { relDiff } from './assert.ts';
import { FAMILIES } from '../../models/zoo-info.ts';
import type { Engine, Family, LocalModel, ModelSpec, TrainOptions } from '../../models/engine.ts';
import { isTinyProtoError } from '../../common/errors.ts';
import { Rng } from '../../common/rng.ts';

// ---------------------------------------------------------------------------------------------
// helpers (also used by the cross-engine tests)

export const SHAPES: readonly [number, number, number][] = [
  [28, 28, 1],
  [32, 32, 3],
];

export function spec(family: Family, inputShape: [number, number, number], over: Partial<ModelSpec> = {}): ModelSpec {
  return { family, inputShape, featureDim: 16, numClasses: 4, seed: 7, ...over };
}

export function randomImages(n: number, per: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  const x = new Float32Array(n * per);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  return x;
}

/** 8x8x1 images; class = the bright quadrant (plus noise). */
export function quadrants(n: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rng = new Rng(seed);
  const x = new Float32Array(n * 64);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 4;
    y[i] = c;
    const r0 = c < 2 ? 0 : 4;
    const c0 = c % 2 === 0 ? 0 : 4;
    for (let r = 0; r < 8; r++) {
      for (let k = 0; k < 8; k++) {
        const on = r >= r0 && r < r0 + 4 && k >= c0 && k < c0 + 4;
        x[i * 64 + r * 8 + k] = (on ? 1.5 : -0.5) + 0.3 * rng.normal();
      }
    }
  }
  return { x, y };
}

export function trainOpts(over: Partial<TrainOptions> = {}): TrainOptions {
  return { batchSize: 16, lr: 0.05, lambda: 0, globalPrototypes: null, hasGlobal: null, shuffleSeed: 1, ...over };
}

export function accuracy(logits: Float32Array, y: Int32Array, K: number): number {
  let ok = 0;
  for (let i = 0; i < y.length; i++) {
    let best = 0;
    for (let j = 1; j < K; j++) if (logits[i * K + j]! > logits[i * K + best]!) best = j;
    if (best === y[i]) ok++;
  }
  return ok / y.length;
}


// ---------------------------------------------------------------------------------------------

export function engineContract(label: string, makeEngine: () => Promise<Engine>): void {
  let engine: Engine;

  before(async () => {
    engine = await makeEngine();
  });

  const it = (name: string, fn: () => Promise<void> | void): void => {
    test(`${label}: ${name}`, fn);
  };

  function withModel<T>(s: ModelSpec, f: (m: LocalModel) => Promise<T>): Promise<T> {
    const m = engine.createModel(s);
    return f(m).finally(() => m.dispose());
  }

  it('memory() reports a non-negative integer tensor count', () => {
    const mem = engine.memory();
    assert.ok(Number.isInteger(mem.numTensors) && mem.numTensors >= 0);
    assert.ok(Number.isFinite(mem.numBytes) && mem.numBytes >= 0);
  });

  for (const family of FAMILIES) {
    for (const shape of SHAPES) {
      it(`${family} ${shape.join('x')}: shapes, param count, FLOPs`, async () => {
        await withModel(spec(family, shape, { featureDim: 500, numClasses: 10 }), async (m) => {
          const n = 3;
          const e = await m.embed(randomImages(n, shape[0] * shape[1] * shape[2], 1), n, 2);
          assert.equal(e.features.length, n * 500);
          assert.equal(e.logits.length, n * 10);
          assert.ok(e.features.every(Number.isFinite) && e.logits.every(Number.isFinite));
          const state = m.getState();
          let trainable = 0;
          for (const [name, s] of Object.entries(state)) {
            assert.equal(s.data.length, s.shape.reduce((a, b) => a * b, 1), name);
            if (!name.endsWith('.running_mean') && !name.endsWith('.running_var')) trainable += s.data.length;
          }
          assert.equal(m.paramCount, trainable);
          assert.ok(m.flopsPerImage > 1e6 && m.flopsPerImage < 40e6, `${m.flopsPerImage}`);
        });
      });
    }
  }

  it('resnet8 FLOPs at 28x28x1 match the analytic count (18.69 MFLOP backbone + fc + head)', async () => {
    await withModel(spec('resnet8', [28, 28, 1], { featureDim: 500, numClasses: 10 }), async (m) => {
      const backbone = 18_690_560; // convs only, see ENVIRONMENT.md (18.7)
      assert.equal(m.flopsPerImage, backbone + 2 * 64 * 500 + 2 * 500 * 10);
    });
  });

  it('clipNorm scales a step down to that gradient norm and counts it; a limit above the norm is the plain step', async () => {
    const s = spec('resnet8', [8, 8, 1]);
    const { x, y } = quadrants(8, 5);
    const w0 = engine.createModel(s).getState();
    const step = async (clipNorm?: number) =>
      withModel(s, async (m) => {
        const st = await m.trainEpoch(x, y, trainOpts({ batchSize: 8, ...(clipNorm === undefined ? {} : { clipNorm }) }));
        return { st, state: m.getState() };
      });
    const plain = await step();
    const N = plain.st.gradNormMax;
    assert.ok(N > 0 && Number.isFinite(N), `gradient norm ${N}`);
    assert.equal(plain.st.clippedSteps, 0);
    const wide = await step(N * 10);
    assert.equal(wide.st.clippedSteps, 0);
    for (const [name, v] of Object.entries(plain.state)) assert.deepEqual(wide.state[name]!.data, v.data, `${name}: a limit above the norm changes nothing`);
    const cut = await step(N / 4);
    assert.equal(cut.st.clippedSteps, 1);
    assert.ok(Math.abs(cut.st.gradNormMax - N) < 1e-5 * N, 'the norm is measured before clipping');
    for (const [name, v] of Object.entries(plain.state)) {
      const full = v.data.map((a, i) => a - w0[name]!.data[i]!);
      const got = cut.state[name]!.data.map((a, i) => a - w0[name]!.data[i]!);
      const scale = Math.max(1e-12, ...full.map(Math.abs));
      const running = name.endsWith('.running_mean') || name.endsWith('.running_var');
      const worst = Math.max(...got.map((g, i) => Math.abs(g - (running ? 1 : 0.25) * full[i]!)));
      assert.ok(worst <= 1e-3 * scale, `${name}: step ${running ? 'unchanged (running statistics are not clipped)' : 'a quarter'} (worst ${worst} of ${scale})`);
    }
    await assert.rejects(step(-1), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /clipNorm/.test((e as Error).message));
  });

  it('every family trains one step at 28x28x1 and 32x32x3', async () => {
    for (const family of FAMILIES) {
      for (const shape of SHAPES) {
        await withModel(spec(family, shape), async (m) => {
          const n = 4;
          const x = randomImages(n, shape[0] * shape[1] * shape[2], 3);
          const st = await m.trainEpoch(x, Int32Array.from([0, 1, 2, 3]), trainOpts({ batchSize: 4 }));
          assert.equal(st.steps, 1);
          assert.ok(Number.isFinite(st.loss), `${family} ${shape}`);
        });
      }
    }
  });

  it('initialisation is deterministic per seed', async () => {
    for (const family of FAMILIES) {
      const a = engine.createModel(spec(family, [8, 8, 1]));
      const b = engine.createModel(spec(family, [8, 8, 1]));
      const c = engine.createModel(spec(family, [8, 8, 1], { seed: 8 }));
      try {
        const sa = a.getState();
        const sb = b.getState();
        const sc = c.getState();
        assert.deepEqual(Object.keys(sa), Object.keys(sb));
        for (const k of Object.keys(sa)) assert.deepEqual(sa[k]!.data, sb[k]!.data, k);
        assert.notDeepEqual(sa['fc.weight']!.data, sc['fc.weight']!.data);
      } finally {
        a.dispose();
        b.dispose();
        c.dispose();
      }
    }
  });

  it('getState/setState round trip gives identical embeddings; training is reproducible', async () => {
    const { x, y } = quadrants(24, 2);
    for (const family of FAMILIES) {
      const a = engine.createModel(spec(family, [8, 8, 1], { seed: 1 }));
      const b = engine.createModel(spec(family, [8, 8, 1], { seed: 2 }));
      try {
        await a.trainEpoch(x, y, trainOpts({ batchSize: 8 })); // moves running stats too
        b.setState(a.getState());
        const ea = await a.embed(x, 24);
        const eb = await b.embed(x, 24, 5);
        assert.deepEqual(eb.features, ea.features, family);
        assert.deepEqual(eb.logits, ea.logits, family);
        await a.trainEpoch(x, y, trainOpts({ batchSize: 8, shuffleSeed: 9 }));
        await b.trainEpoch(x, y, trainOpts({ batchSize: 8, shuffleSeed: 9 }));
        assert.deepEqual(b.getState(), a.getState(), family);
      } finally {
        a.dispose();
        b.dispose();
      }
    }
  });

  it('setState rejects wrong names and shapes with E_SHAPE', async () => {
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const s = m.getState();
      const missing = { ...s };
      delete missing['head.bias'];
      assert.throws(() => m.setState(missing), (e) => isTinyProtoError(e, 'E_SHAPE'));
      assert.throws(() => m.setState({ ...s, extra: { shape: [1], data: new Float32Array(1) } }), (e) => isTinyProtoError(e, 'E_SHAPE'));
      assert.throws(
        () => m.setState({ ...s, 'head.bias': { shape: [5], data: new Float32Array(5) } }),
        (e) => isTinyProtoError(e, 'E_SHAPE'),
      );
      assert.throws(
        () => m.setState({ ...s, 'head.bias': { shape: [4], data: new Float32Array(3) } }),
        (e) => isTinyProtoError(e, 'E_SHAPE'),
      );
    });
  });

  it('bad specs and inputs raise typed errors', async () => {
    assert.throws(() => engine.createModel(spec('nope' as Family, [8, 8, 1])), (e) => isTinyProtoError(e, 'E_MODEL'));
    assert.throws(() => engine.createModel(spec('resnet8', [4, 4, 1])), (e) => isTinyProtoError(e, 'E_CONFIG'));
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const x = randomImages(4, 64, 1);
      await assert.rejects(m.trainEpoch(x, Int32Array.from([0, 1, 2, 4]), trainOpts()), (e) => isTinyProtoError(e, 'E_SHAPE'));
      await assert.rejects(m.trainEpoch(x.subarray(1), Int32Array.from([0, 1, 2, 3]), trainOpts()), (e) => isTinyProtoError(e, 'E_SHAPE'));
      await assert.rejects(
        m.trainEpoch(x, Int32Array.from([0, 1, 2, 3]), trainOpts({ lambda: 1, globalPrototypes: new Float32Array(10) })),
        (e) => isTinyProtoError(e, 'E_SHAPE'),
      );
      await assert.rejects(m.embed(x, 5), (e) => isTinyProtoError(e, 'E_SHAPE'));
    });
  });

  it('a model used after dispose() throws E_MODEL', async () => {
    const m = engine.createModel(spec('resnet8', [8, 8, 1]));
    const state = m.getState();
    m.dispose();
    const x = randomImages(4, 64, 1);
    await assert.rejects(m.trainEpoch(x, Int32Array.from([0, 1, 2, 3]), trainOpts({ batchSize: 4 })), (e) => isTinyProtoError(e, 'E_MODEL'));
    await assert.rejects(m.embed(x, 4), (e) => isTinyProtoError(e, 'E_MODEL'));
    assert.throws(() => m.getState(), (e) => isTinyProtoError(e, 'E_MODEL'));
    assert.throws(() => m.setState(state), (e) => isTinyProtoError(e, 'E_MODEL'));
    m.dispose(); // a second dispose is a no-op
  });

  it('a non-finite input makes trainEpoch reject with E_NON_FINITE', async () => {
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const x = randomImages(8, 64, 31);
      x[3 * 64 + 10] = NaN;
      await assert.rejects(
        m.trainEpoch(x, Int32Array.from([0, 1, 2, 3, 0, 1, 2, 3]), trainOpts({ batchSize: 8 })),
        (e) => isTinyProtoError(e, 'E_NON_FINITE'),
      );
    });
  });

  it('embed works with batchSize 1 and with n = 0', async () => {
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const { x, y } = quadrants(8, 32);
      await m.trainEpoch(x, y, trainOpts({ batchSize: 4 })); // non-trivial running stats
      const n = 5;
      const xs = x.subarray(0, n * 64);
      const all = await m.embed(xs, n);
      const one = await m.embed(xs, n, 1);
      assert.equal(one.features.length, n * 16);
      assert.equal(one.logits.length, n * 4);
      assert.ok(relDiff(one.features, all.features) < 1e-5, `features ${relDiff(one.features, all.features)}`);
      assert.ok(relDiff(one.logits, all.logits) < 1e-5, `logits ${relDiff(one.logits, all.logits)}`);
      const empty = await m.embed(new Float32Array(0), 0);
      assert.equal(empty.features.length, 0);
      assert.equal(empty.logits.length, 0);
      const empty1 = await m.embed(new Float32Array(0), 0, 1);
      assert.equal(empty1.features.length, 0);
      assert.equal(empty1.logits.length, 0);
    });
  });

  it('a final batch of one sample is skipped', async () => {
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const n = 17;
      const st = await m.trainEpoch(randomImages(n, 64, 4), Int32Array.from({ length: n }, (_, i) => i % 4), trainOpts({ batchSize: 8 }));
      assert.equal(st.steps, 2);
      assert.equal(st.samples, 16);
      const st2 = await m.trainEpoch(randomImages(18, 64, 4), Int32Array.from({ length: 18 }, (_, i) => i % 4), trainOpts({ batchSize: 8 }));
      assert.equal(st2.steps, 3);
      assert.equal(st2.samples, 18);
    });
  });

  it('no tensor leaks across trainEpoch (with and without the prototype contrast), embed, getState/setState', async () => {
    const { x, y } = quadrants(20, 5);
    const K = 4;
    const d = 16;
    const protos = randomImages(K, d, 6);
    for (const family of FAMILIES) {
      const start = engine.memory().numTensors;
      const m = engine.createModel(spec(family, [8, 8, 1]));
      // warm up once (the backend may cache things on first use)
      await m.trainEpoch(x, y, trainOpts({ batchSize: 8 }));
      const before = engine.memory().numTensors;
      for (let i = 0; i < 2; i++) {
        await m.trainEpoch(x, y, trainOpts({ batchSize: 8, shuffleSeed: i }));
        await m.trainEpoch(x, y, trainOpts({ batchSize: 8, lambda: 1, globalPrototypes: protos, hasGlobal: Uint8Array.from([1, 0, 1, 1]) }));
        // with the prototype contrast (models/contrast.ts): its epoch constants are freed too
        const contrast = { weight: 0.5, prototypes: protos, dimWeights: new Float32Array(K * d).fill(1), available: Uint8Array.from([1, 0, 1, 1]) };
        await m.trainEpoch(x, y, trainOpts({ batchSize: 8, lambda: 1, globalPrototypes: protos, hasGlobal: Uint8Array.from([1, 0, 1, 1]), contrast }));
        await m.embed(x, 20, 6);
        m.setState(m.getState());
      }
      assert.equal(engine.memory().numTensors, before, family);
      const withModelTensors = engine.memory().numTensors;
      m.dispose();
      assert.ok(engine.memory().numTensors < withModelTensors, family);
      assert.equal(engine.memory().numTensors, start, `${family}: back to the starting count after dispose`);
    }
  });

  it('resnet8 learns a separable toy problem', async () => {
    const { x, y } = quadrants(64, 11);
    await withModel(spec('resnet8', [8, 8, 1]), async (m) => {
      const first = await m.trainEpoch(x, y, trainOpts({ shuffleSeed: 0 }));
      let last = first;
      for (let e = 1; e < 8; e++) last = await m.trainEpoch(x, y, trainOpts({ shuffleSeed: e }));
      assert.ok(last.loss < 0.6 * first.loss, `loss ${first.loss} -> ${last.loss}`);
      assert.equal(last.protoLoss, 0);
      assert.equal(last.loss, last.ceLoss);
      const { logits } = await m.embed(x, 64);
      const acc = accuracy(logits, y, 4);
      assert.ok(acc >= 0.75, `accuracy ${acc}`);
    });
  });

  it('the lambda term pulls features towards the global prototypes', async () => {
    const { x, y } = quadrants(48, 12);
    const K = 4;
    const d = 16;
    const protos = new Float32Array(K * d);
    for (let j = 0; j < K; j++) for (let k = 0; k < 4; k++) protos[j * d + j * 4 + k] = 2; // disjoint blocks
    await withModel(spec('mobilenetv2', [8, 8, 1]), async (m) => {
      const opts = (e: number) => trainOpts({ lambda: 1, globalPrototypes: protos, hasGlobal: new Uint8Array(K).fill(1), shuffleSeed: e });
      const first = await m.trainEpoch(x, y, opts(0));
      let last = first;
      for (let e = 1; e < 6; e++) last = await m.trainEpoch(x, y, opts(e));
      assert.ok(first.protoLoss > 0);
      assert.ok(last.protoLoss < 0.75 * first.protoLoss, `proto ${first.protoLoss} -> ${last.protoLoss}`);
      assert.ok(Math.abs(last.loss - (last.ceLoss + last.protoLoss)) < 1e-4);
    });
  });

  it('protoLoss is 0 when no class has a global prototype', async () => {
    const { x, y } = quadrants(16, 13);
    await withModel(spec('shufflenetv2', [8, 8, 1]), async (m) => {
      const st = await m.trainEpoch(
        x,
        y,
        trainOpts({ lambda: 10, globalPrototypes: randomImages(4, 16, 1), hasGlobal: new Uint8Array(4), batchSize: 8 }),
      );
      assert.equal(st.protoLoss, 0);
      assert.ok(Math.abs(st.loss - st.ceLoss) < 1e-6);
    });
  });

  it('the prototype MSE averages over B*d and counts only classes with a global prototype', async () => {
    // lr tiny so that the step does not matter; compare the reported loss with features from embed
    // is not possible (train vs eval batch norm), so check the ratio between two masks instead.
    const n = 8;
    const x = randomImages(n, 64, 21);
    const y = Int32Array.from([0, 0, 1, 1, 2, 2, 3, 3]);
    const protos = randomImages(4, 16, 22);
    const run = async (flags: number[]): Promise<number> => {
      const m = engine.createModel(spec('resnet8', [8, 8, 1]));
      try {
        const st = await m.trainEpoch(x, y, trainOpts({ batchSize: 8, lr: 1e-9, lambda: 1, globalPrototypes: protos, hasGlobal: Uint8Array.from(flags) }));
        return st.protoLoss;
      } finally {
        m.dispose();
      }
    };
    const all = await run([1, 1, 1, 1]);
    const parts = [await run([1, 0, 0, 0]), await run([0, 1, 0, 0]), await run([0, 0, 1, 0]), await run([0, 0, 0, 1])];
    const sum = parts.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - all) < 1e-4 * all, `${sum} vs ${all}`);
  });
}
