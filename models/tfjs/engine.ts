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
import { Rng } from '../../protocol/rng.ts';
import { TinyProtoError } from '../../protocol/errors.ts';
import type { Logger } from '../../protocol/logger.ts';
import { silentLogger } from '../../protocol/logger.ts';
import type { BnMoments, FwdCtx, Tensor, Tensor2D, Tensor4D, Tf } from './layers.ts';
import { buildNet, type Net } from './zoo.ts';
import type { TfjsInitOptions, TfjsBackendName } from './backend.ts';

export type TfjsBackend = TfjsBackendName;

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

let tfjsMemory: () => { numTensors: number; numBytes: number; wasmHeapBytes?: number } = () => ({ numTensors: 0, numBytes: 0 });

export class TfjsEngine implements Engine {
  readonly name = 'tfjs';

  private constructor(
    readonly tf: Tf,
    readonly backend: TfjsBackend,
    private readonly logger: Logger,
  ) {}

  /** Initialise TensorFlow.js (see backend.ts for backend selection) and wrap it. */
  static async create(opts: TfjsInitOptions = {}): Promise<TfjsEngine> {
    const { initTfjs } = await import('./backend.ts');
    tfjsMemory = (await import('./backend.ts')).tfjsMemory;
    const { tf, backend } = await initTfjs(opts);
    return new TfjsEngine(tf as Tf, backend, opts.logger ?? silentLogger);
  }


  createModel(spec: ModelSpec): LocalModel {
    return new TfjsLocalModel(this.tf, buildNet(this.tf, spec), this.logger);
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
    private readonly logger: Logger,
  ) {
    this.spec = net.spec;
    this.paramCount = net.paramCount;
    this.flopsPerImage = net.flopsPerImage;
  }

  /** Per-layer forward FLOPs (conv/depthwise/dense), for reports. */
  get flopsByLayer(): readonly { name: string; flops: number }[] {
    return this.net.flopsByLayer;
  }

  private checkAlive(): void {
    if (this.disposed) throw new TinyProtoError('E_MODEL', 'model used after dispose()');
  }

  private imageSize(): number {
    const [h, w, c] = this.spec.inputShape;
    return h * w * c;
  }

  async trainEpoch(x: Float32Array, y: Int32Array, opts: TrainOptions): Promise<EpochStats> {
    this.checkAlive();
    const tf = this.tf;
    const t0 = performance.now();
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = this.imageSize();
    const n = y.length;
    if (x.length !== n * per) {
      throw new TinyProtoError('E_SHAPE', `trainEpoch: x has ${x.length} values, expected ${n} x ${per}`);
    }
    if (!Number.isInteger(opts.batchSize) || opts.batchSize < 2) {
      throw new TinyProtoError('E_CONFIG', `trainEpoch: batchSize must be an integer >= 2, got ${opts.batchSize}`);
    }
    if (!(opts.lr > 0) || !Number.isFinite(opts.lr)) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad lr ${opts.lr}`);
    if (!(opts.lambda >= 0) || !Number.isFinite(opts.lambda)) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad lambda ${opts.lambda}`);
    for (let i = 0; i < n; i++) {
      const v = y[i]!;
      if (v < 0 || v >= K) throw new TinyProtoError('E_SHAPE', `trainEpoch: label ${v} at ${i} outside [0, ${K})`);
    }
    const useProto = opts.globalPrototypes !== null && opts.lambda > 0;
    if (opts.globalPrototypes !== null && opts.globalPrototypes.length !== K * d) {
      throw new TinyProtoError('E_SHAPE', `trainEpoch: globalPrototypes has ${opts.globalPrototypes.length} values, expected ${K} x ${d}`);
    }
    if (opts.hasGlobal !== null && opts.hasGlobal.length !== K) {
      throw new TinyProtoError('E_SHAPE', `trainEpoch: hasGlobal has ${opts.hasGlobal.length} flags, expected ${K}`);
    }

    const order = new Int32Array(n);
    for (let i = 0; i < n; i++) order[i] = i;
    new Rng(opts.shuffleSeed).shuffle(order);

    // constants for the epoch
    let protos: Tensor2D | null = null;
    let protoWeight: Tensor | null = null;
    if (useProto) {
      protos = tf.tensor2d(opts.globalPrototypes!, [K, d], 'float32');
      const flags = new Float32Array(K);
      for (let j = 0; j < K; j++) flags[j] = opts.hasGlobal === null ? 1 : opts.hasGlobal[j]! !== 0 ? 1 : 0;
      protoWeight = tf.tensor1d(flags, 'float32');
    }
    const vars = this.net.store.trainableVariables();
    const lr = tf.scalar(opts.lr);
    const bs = opts.batchSize;
    const xb = new Float32Array(bs * per);
    const yb = new Int32Array(bs);

    let sumLoss = 0;
    let sumCe = 0;
    let sumProto = 0;
    let steps = 0;
    let samples = 0;
    try {
      for (let start = 0; start < n; start += bs) {
        const B = Math.min(bs, n - start);
        if (B < 2) {
          this.logger.debug('trainEpoch: skipping final batch of one sample (batch norm needs > 1)');
          break;
        }
        for (let i = 0; i < B; i++) {
          const idx = order[start + i]!;
          xb.set(x.subarray(idx * per, (idx + 1) * per), i * per);
          yb[i] = y[idx]!;
        }
        const moments: BnMoments[] = [];
        let lossParts: Tensor | null = null;
        try {
          tf.tidy(() => {
            const xt = tf.tensor4d(B === bs ? xb : xb.subarray(0, B * per), [B, h, w, c], 'float32');
            const yt = tf.tensor1d(B === bs ? yb : yb.subarray(0, B), 'int32');
            const ctx: FwdCtx = { training: true, moments };
            const { value, grads } = tf.variableGrads(() => {
              const f = this.net.features(xt as Tensor4D, ctx);
              const logits = this.net.head.apply(f);
              const onehot = tf.oneHot(yt, K);
              const ce = tf.neg(tf.mean(tf.sum(tf.mul(onehot, tf.logSoftmax(logits)), 1)));
              let proto: Tensor = tf.scalar(0);
              let total: Tensor = ce;
              if (protos !== null && protoWeight !== null) {
                const target = tf.gather(protos, yt);
                const wts = tf.reshape(tf.gather(protoWeight, yt), [B, 1]);
                proto = tf.div(tf.sum(tf.mul(wts, tf.squaredDifference(f, target))), B * d);
                total = tf.add(ce, tf.mul(proto, opts.lambda));
              }
              lossParts = tf.keep(tf.stack([total, ce, proto]));
              return total as TfScalar;
            }, vars);
            for (const v of vars) {
              const g = grads[v.name];
              if (g != null) v.assign(tf.sub(v, tf.mul(g, lr)));
            }
            value.dispose();
            for (const m of moments) m.layer.updateRunning(m.mean, m.variance, m.count);
          });
          const parts = (lossParts as Tensor | null)!.dataSync();
          const [l, ce, pr] = [parts[0]!, parts[1]!, parts[2]!];
          if (!Number.isFinite(l)) {
            throw new TinyProtoError('E_NON_FINITE', `trainEpoch: non-finite loss ${l} at step ${steps}`, {
              family: this.spec.family,
              step: steps,
              ce,
              proto: pr,
            });
          }
          sumLoss += l;
          sumCe += ce;
          sumProto += pr;
        } finally {
          (lossParts as Tensor | null)?.dispose();
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
      protos?.dispose();
      protoWeight?.dispose();
    }
    const k = Math.max(steps, 1);
    return {
      loss: sumLoss / k,
      ceLoss: sumCe / k,
      protoLoss: sumProto / k,
      samples,
      steps,
      seconds: (performance.now() - t0) / 1000,
    };
  }

  async embed(x: Float32Array, n: number, batchSize = 256): Promise<Embedding> {
    this.checkAlive();
    const tf = this.tf;
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = this.imageSize();
    if (!Number.isInteger(n) || n < 0 || x.length !== n * per) {
      throw new TinyProtoError('E_SHAPE', `embed: x has ${x.length} values, expected ${n} x ${per}`);
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new TinyProtoError('E_CONFIG', `embed: bad batchSize ${batchSize}`);
    const features = new Float32Array(n * d);
    const logits = new Float32Array(n * K);
    const ctx: FwdCtx = { training: false, moments: [] };
    for (let start = 0; start < n; start += batchSize) {
      const B = Math.min(batchSize, n - start);
      const [f, l] = tf.tidy(() => {
        const xt = tf.tensor4d(x.subarray(start * per, (start + B) * per), [B, h, w, c], 'float32');
        const ft = this.net.features(xt, ctx);
        return [ft, this.net.head.apply(ft)] as const;
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
    const names = Object.keys(state);
    const known = new Set(entries.map((e) => e.name));
    const extra = names.filter((k) => !known.has(k));
    if (extra.length > 0) throw new TinyProtoError('E_SHAPE', `setState: unknown parameters ${extra.slice(0, 5).join(', ')}`, { extra });
    for (const e of entries) {
      const s = state[e.name];
      if (s === undefined) throw new TinyProtoError('E_SHAPE', `setState: missing parameter ${e.name}`);
      const same = s.shape.length === e.shape.length && s.shape.every((v, i) => v === e.shape[i]);
      if (!same) throw new TinyProtoError('E_SHAPE', `setState: ${e.name} has shape [${s.shape}], expected [${e.shape}]`);
      if (s.data.length !== e.variable.size) {
        throw new TinyProtoError('E_SHAPE', `setState: ${e.name} has ${s.data.length} values, expected ${e.variable.size}`);
      }
    }
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
