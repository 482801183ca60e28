/**
 * TensorFlow.js implementation of the engine interface (models/engine.ts).
 *
 * Training step (one mini-batch, all inside tf.tidy):
 *   loss = CE(softmax(head(f)), y)                       (mean over the batch)
 *        + lambda * sum_b hasGlobal[y_b] * ||f_b - P_{y_b}||^2 / (B * d)
 * i.e. the prototype MSE is averaged over all B*d elements but only samples whose class has a
 * global prototype contribute (the reference implementation replaces the target by the feature
 * itself for the others). With globalPrototypes null or lambda = 0 the loss is CE alone
 * (protoLoss reported as 0); hasGlobal null means every class has a prototype. Plain SGD
 * (w -= lr * g; no momentum, no weight decay); batch-norm running statistics are updated from
 * the batch moments after the gradient step (momentum 0.1, unbiased variance, as PyTorch).
 *
 * Batching: indices are shuffled with Rng(shuffleSeed); batches of `batchSize`, the last partial
 * batch included, except that a final batch of exactly one sample is skipped (batch norm in
 * training mode cannot normalise a single sample; PyTorch raises on it). EpochStats.samples
 * counts the samples actually used. A non-finite loss throws E_NON_FINITE (the weights of that
 * step are already updated: restore a checkpoint). trainEpoch yields to the event loop after
 * every batch so that network I/O keeps flowing during training.
 */
import type { Embedding, Engine, EngineMemory, EpochStats, LocalModel, ModelSpec, ModelState, TrainOptions } from '../engine.ts';
import { checkEmbedArgs, checkState, checkTrainArgs, clipLimit, epochBatches, FeatureSums, imageSize, prototypeWeights } from '../train-args.ts';
import { contrastInputs } from '../contrast.ts';
import { TinyProtoError } from '../../common/errors.ts';
import type { BnMoments, FwdCtx, Tensor, Tensor2D, Tensor4D, Tf } from './layers.ts';
import { buildNet, type Net } from './net.ts';
import type { TfjsInitOptions, TfjsBackendName } from './backend.ts';

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let tfjsMemory: () => { numTensors: number; numBytes: number; wasmHeapBytes?: number } = () => ({ numTensors: 0, numBytes: 0 });

export class TfjsEngine implements Engine {
  readonly name = 'tfjs';

  private constructor(
    readonly tf: Tf,
    readonly backend: TfjsBackendName,
  ) {}

  /** Initialise TensorFlow.js (see backend.ts for backend selection) and wrap it. */
  static async create(opts: TfjsInitOptions = {}): Promise<TfjsEngine> {
    const mod = await import('./backend.ts');
    tfjsMemory = mod.tfjsMemory;
    const { tf, backend } = await mod.initTfjs(opts);
    return new TfjsEngine(tf as Tf, backend);
  }

  createModel(spec: ModelSpec): LocalModel {
    return new TfjsLocalModel(this.tf, buildNet(this.tf, spec));
  }

  memory(): EngineMemory {
    const m = tfjsMemory();
    return { numTensors: m.numTensors, numBytes: m.numBytes, ...(m.wasmHeapBytes !== undefined ? { wasmHeapBytes: m.wasmHeapBytes } : {}) };
  }
}

export class TfjsLocalModel implements LocalModel {
  readonly spec: ModelSpec;
  readonly paramCount: number;
  readonly flopsPerImage: number;
  private disposed = false;

  constructor(
    private readonly tf: Tf,
    private readonly net: Net,
  ) {
    this.spec = net.spec;
    this.paramCount = net.paramCount;
    this.flopsPerImage = net.flopsPerImage;
  }

  private checkAlive(): void {
    if (this.disposed) throw new TinyProtoError('E_MODEL', 'model used after dispose()');
  }

  async trainEpoch(x: Float32Array, y: Int32Array, opts: TrainOptions): Promise<EpochStats> {
    this.checkAlive();
    const tf = this.tf;
    const t0 = performance.now();
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = imageSize(this.spec);
    const { useProto } = checkTrainArgs(this.spec, x, y, opts);

    // constants for the epoch
    let protos: Tensor2D | null = null;
    let protoWeight: Tensor | null = null;
    if (useProto) {
      protos = tf.tensor2d(opts.globalPrototypes!, [K, d], 'float32');
      const pw = prototypeWeights(K, d, opts);
      protoWeight = pw.width === 1 ? tf.tensor1d(pw.weights, 'float32') : tf.tensor2d(pw.weights, [K, d], 'float32');
    }
    const ci = opts.contrast === null || opts.contrast === undefined ? null : contrastInputs(K, d, opts.contrast);
    const contrast: ContrastTensors | null =
      ci === null || ci.gamma === 0
        ? null
        : { gamma: ci.gamma, w: tf.tensor2d(ci.w, [K, d], 'float32'), wp: tf.tensor2d(ci.wp, [K, d], 'float32'), c: tf.tensor1d(ci.c, 'float32'), available: tf.tensor1d(ci.available, 'float32') };
    const vars = this.net.store.trainableVariables();
    const lr = tf.scalar(opts.lr);
    const limit = clipLimit(opts.clipNorm);
    const clip = tf.scalar(limit);
    const bs = opts.batchSize;
    const xb = new Float32Array(bs * per);
    const yb = new Int32Array(bs);
    const collected = opts.collectFeatures === true ? new FeatureSums(K, d) : null;

    let sumLoss = 0;
    let sumCe = 0;
    let sumProto = 0;
    let steps = 0;
    let samples = 0;
    let gradNormMax = 0;
    let clippedSteps = 0;
    try {
      for (const batch of epochBatches(y.length, bs, opts.shuffleSeed)) {
        const B = batch.length;
        for (let i = 0; i < B; i++) {
          const idx = batch[i]!;
          xb.set(x.subarray(idx * per, (idx + 1) * per), i * per);
          yb[i] = y[idx]!;
        }
        const moments: BnMoments[] = [];
        let lossParts: Tensor | null = null;
        let gradNorm: Tensor | null = null;
        let feats: Tensor | null = null;
        try {
          tf.tidy(() => {
            const xt = tf.tensor4d(B === bs ? xb : xb.subarray(0, B * per), [B, h, w, c], 'float32');
            const yt = tf.tensor1d(B === bs ? yb : yb.subarray(0, B), 'int32');
            const ctx: FwdCtx = { training: true, moments };
            const { value, grads } = tf.variableGrads(() => {
              const parts = tfjsLoss(tf, this.net, xt as Tensor4D, yt, protos, protoWeight, opts.lambda, ctx, contrast);
              lossParts = tf.keep(tf.stack([parts.total, parts.ce, parts.proto]));
              if (collected !== null) feats = tf.keep(parts.features);
              return parts.total as TfScalar;
            }, vars);
            // the global gradient norm and min(1, clip / norm): exactly 1 when clipping is off (clip = +Infinity)
            const norm = tf.sqrt(tf.addN(vars.filter((v) => grads[v.name] != null).map((v) => tf.sum(tf.square(grads[v.name]!)))));
            const step = tf.mul(lr, tf.minimum(tf.scalar(1), tf.div(clip, norm)));
            gradNorm = tf.keep(norm);
            for (const v of vars) {
              const g = grads[v.name];
              if (g != null) v.assign(tf.sub(v, tf.mul(g, step)));
            }
            value.dispose();
            for (const m of moments) m.layer.updateRunning(m.mean, m.variance, m.count);
          });
          const parts = (lossParts as Tensor | null)!.dataSync();
          if (collected !== null) collected.add((feats as Tensor | null)!.dataSync(), batch, y);
          const [l, ce, pr] = [parts[0]!, parts[1]!, parts[2]!];
          if (!Number.isFinite(l)) {
            throw new TinyProtoError('E_NON_FINITE', `trainEpoch: non-finite loss ${l} at step ${steps}`, {
              family: this.spec.family,
              loss: l,
              step: steps,
              ce,
              proto: pr,
            });
          }
          sumLoss += l;
          sumCe += ce;
          sumProto += pr;
          const norm = (gradNorm as Tensor | null)!.dataSync()[0]!;
          gradNormMax = Math.max(gradNormMax, norm);
          if (norm > limit) clippedSteps++;
        } finally {
          (lossParts as Tensor | null)?.dispose();
          (gradNorm as Tensor | null)?.dispose();
          (feats as Tensor | null)?.dispose();
          for (const m of moments) {
            m.mean.dispose();
            m.variance.dispose();
          }
        }
        steps++;
        samples += B;
        await yieldToEventLoop();
      }
    } finally {
      lr.dispose();
      clip.dispose();
      protos?.dispose();
      protoWeight?.dispose();
      if (contrast !== null) for (const t of [contrast.w, contrast.wp, contrast.c, contrast.available]) t.dispose();
    }
    const k = Math.max(steps, 1);
    return {
      loss: sumLoss / k,
      ceLoss: sumCe / k,
      protoLoss: sumProto / k,
      samples,
      steps,
      seconds: (performance.now() - t0) / 1000,
      gradNormMax,
      clippedSteps,
      ...(collected === null ? {} : { classFeatures: collected }),
    };
  }

  async embed(x: Float32Array, n: number, batchSize = 256): Promise<Embedding> {
    this.checkAlive();
    const tf = this.tf;
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = imageSize(this.spec);
    checkEmbedArgs(this.spec, x, n, batchSize);
    const features = new Float32Array(n * d);
    const logits = new Float32Array(n * K);
    const ctx: FwdCtx = { training: false, moments: [] };
    for (let start = 0; start < n; start += batchSize) {
      const B = Math.min(batchSize, n - start);
      const [f, l] = tf.tidy(() => {
        const xt = tf.tensor4d(x.subarray(start * per, (start + B) * per), [B, h, w, c], 'float32');
        const { features: ft, logits: lt } = this.net.forward(xt, ctx);
        return [ft, lt] as const;
      });
      try {
        features.set(f.dataSync() as Float32Array, start * d);
        logits.set(l.dataSync() as Float32Array, start * K);
      } finally {
        f.dispose();
        l.dispose();
      }
      if (start + B < n) await yieldToEventLoop();
    }
    return { features, logits };
  }

  getState(): ModelState {
    this.checkAlive();
    const out: ModelState = {};
    for (const e of this.net.store.entries) {
      out[e.name] = { shape: [...e.shape], data: Float32Array.from(e.variable.dataSync() as Float32Array) };
    }
    return out;
  }

  setState(state: ModelState): void {
    this.checkAlive();
    const tf = this.tf;
    const entries = this.net.store.entries;
    checkState(entries, state);
    tf.tidy(() => {
      for (const e of entries) {
        const s = state[e.name]!;
        e.variable.assign(tf.tensor(s.data, [...e.shape], 'float32'));
      }
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.net.store.dispose();
  }
}

type TfScalar = import('@tensorflow/tfjs-core').Scalar;

/** The prototype contrast's epoch constants (models/contrast.ts) as tensors. */
interface ContrastTensors {
  readonly gamma: number;
  readonly w: Tensor2D;
  readonly wp: Tensor2D;
  readonly c: Tensor;
  readonly available: Tensor;
}

/**
 * The training loss of one batch (see the header): total = CE + lambda * proto + gamma * contrast.
 * `protos` [K, d] and `protoWeight` [K] or [K, d] are null when the prototype term is off;
 * `contrast` null when the prototype contrast (models/contrast.ts) is.
 */
export function tfjsLoss(
  tf: Tf,
  net: Net,
  xt: Tensor4D,
  yt: Tensor,
  protos: Tensor2D | null,
  protoWeight: Tensor | null,
  lambda: number,
  ctx: FwdCtx,
  contrast: ContrastTensors | null = null,
): { total: Tensor; ce: Tensor; proto: Tensor; features: Tensor2D } {
  const B = xt.shape[0];
  const d = net.spec.featureDim;
  const { features: f, logits } = net.forward(xt, ctx);
  const onehot = tf.oneHot(yt as import('@tensorflow/tfjs-core').Tensor1D, net.spec.numClasses);
  const ce = tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1)));
  let total: Tensor = ce;
  if (contrast !== null) {
    // z = 2 f (W*P)^T - (f*f) W^T - c; rows of classes that are not candidates add nothing
    const z = tf.sub(tf.sub(tf.mul(tf.matMul(f, contrast.wp, false, true), 2), tf.matMul(tf.square(f), contrast.w, false, true)), contrast.c);
    const target = tf.mul(onehot, contrast.available);
    total = tf.add(total, tf.mul(tf.neg(tf.mean(tf.sum(tf.mul(target, tf.logSoftmax(z)), 1))), contrast.gamma));
  }
  if (protos === null || protoWeight === null) return { total, ce, proto: tf.scalar(0), features: f };
  const target = tf.gather(protos, yt);
  // [K] flags/weights: one per sample; [K, d]: one per dimension (TrainOptions.classWeights)
  const wts = protoWeight.rank === 1 ? tf.reshape(tf.gather(protoWeight, yt), [B, 1]) : tf.gather(protoWeight, yt);
  const proto = tf.div(tf.sum(tf.mul(wts, tf.squaredDifference(f, target))), B * d);
  return { total: tf.add(total, tf.mul(proto, lambda)), ce, proto, features: f };
}
