/**
 * ONNX Runtime implementation of the engine interface (models/engine.ts): training, evaluation
 * and export through onnxruntime-node's standard CPU (or CUDA) kernels.
 *
 * Each model family and input shape gets one training session (graphs.ts: forward, backward
 * and SGD update in a single graph) and one inference session, compiled once per engine and
 * shared by every model of that shape: weights are graph inputs, so a step feeds the current
 * weights in and takes the updated ones out, with no per-step or per-model rebuild. Batching,
 * loss and batch-norm semantics are identical to the tfjs engine (models/tfjs/engine.ts and
 * models/train-args.ts): same mini-batches, CE + lambda * masked MSE, plain SGD, running
 * statistics with momentum 0.1 and the unbiased variance. onnxruntime runs each step on its own
 * thread pool, so the event loop (MQTT keep-alives) keeps running during training.
 */
import type { Embedding, Engine, EngineMemory, EpochStats, LocalModel, ModelSpec, ModelState, TrainOptions } from '../engine.ts';
import { TinyProtoError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import { silentLogger } from '../../common/logger.ts';
import { checkEmbedArgs, checkState, checkTrainArgs, clipLimit, epochBatches, FeatureSums, imageSize, prototypeWeights } from '../train-args.ts';
import { initValues } from '../init.ts';
import { contrastInputs } from '../contrast.ts';
import { buildInferGraph, buildTrainGraph, contrastFeeds, nextName, type BuiltGraph } from './graphs.ts';
import type { ParamDef } from '../arch/builder.ts';
import { parallelTrainEpoch, WorkerParts, type ParallelBinding, type PartRunners } from './parallel.ts';
import { createSession, loadOrt, resolveProvider, type Ort, type OrtProvider, type OrtSession, type OrtTensor } from './runtime.ts';

export interface OrtEngineOptions {
  /** Intra-op threads per session; undefined = 1; 0 = onnxruntime's default (one per core). */
  readonly threads?: number;
  readonly provider?: 'auto' | 'cpu' | 'cuda';
  /**
   * Data-parallel training (parallel.ts): each batch split over this many worker threads, each
   * with its own session of `threads` intra-op threads; undefined or 1 = the single-session path.
   * CPU provider only.
   */
  readonly trainThreads?: number;
  readonly logger?: Logger;
}

/** The compiled graphs of one (family, input shape, d, K). */
interface Compiled {
  readonly train: BuiltGraph;
  /** The 'grads' training graph, for data-parallel training (built on first use). */
  grads: Uint8Array | null;
  trainSession: Promise<OrtSession> | null;
  inferSession: Promise<OrtSession> | null;
}

const specKey = (s: ModelSpec): string => `${s.family}|${s.inputShape.join('x')}|${s.featureDim}|${s.numClasses}`;

export class OrtEngine implements Engine {
  readonly name = 'ort';
  private readonly compiled = new Map<string, Compiled>();
  private readonly live = new Set<OrtLocalModel>();
  private parts: WorkerParts | null = null;

  private constructor(
    readonly ort: Ort,
    readonly backend: OrtProvider,
    readonly threads: number,
    readonly trainThreads: number,
    readonly logger: Logger,
  ) {}

  static async create(opts: OrtEngineOptions = {}): Promise<OrtEngine> {
    const logger = opts.logger ?? silentLogger;
    // one thread unless asked: onnxruntime's intra-op parallelism did not pay on these graphs
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 0) throw new TinyProtoError('E_CONFIG', `ort engine: threads must be an integer >= 0, got ${threads}`);
    const trainThreads = opts.trainThreads ?? 1;
    if (!Number.isInteger(trainThreads) || trainThreads < 1) throw new TinyProtoError('E_CONFIG', `ort engine: trainThreads must be an integer >= 1, got ${trainThreads}`);
    const ort = await loadOrt();
    const provider = resolveProvider(opts.provider ?? 'auto', logger);
    // the CUDA provider trains one session on the whole batch
    return new OrtEngine(ort, provider, threads, provider === 'cpu' ? trainThreads : 1, logger);
  }

  /** The data-parallel workers (started on first use), or null when training is single-session. */
  partRunners(): WorkerParts | null {
    if (this.trainThreads <= 1) return null;
    this.parts ??= new WorkerParts(this.trainThreads);
    return this.parts;
  }

  /** Stops the data-parallel workers, if any (idle workers never keep the process alive). */
  async close(): Promise<void> {
    const p = this.parts;
    this.parts = null;
    await p?.close();
  }

  /** The shared graphs of a spec (built on first use). */
  compiledFor(spec: ModelSpec): Compiled {
    const key = specKey(spec);
    let c = this.compiled.get(key);
    if (c === undefined) {
      c = { train: buildTrainGraph(spec, 'sgd'), grads: null, trainSession: null, inferSession: null };
      this.compiled.set(key, c);
    }
    return c;
  }

  session(spec: ModelSpec, kind: 'train' | 'infer'): Promise<OrtSession> {
    const c = this.compiledFor(spec);
    const settings = { threads: this.threads, provider: this.backend };
    if (kind === 'train') {
      c.trainSession ??= createSession(this.ort, c.train.bytes, settings);
      return c.trainSession;
    }
    c.inferSession ??= createSession(this.ort, buildInferGraph(spec, null).bytes, settings);
    return c.inferSession;
  }

  createModel(spec: ModelSpec): LocalModel {
    const m = new OrtLocalModel(this, spec);
    this.live.add(m);
    return m;
  }

  /** @internal */
  forget(m: OrtLocalModel): void {
    this.live.delete(m);
  }

  memory(): EngineMemory {
    let numTensors = 0;
    let numBytes = 0;
    for (const m of this.live) {
      numTensors += m.stateTensorCount;
      numBytes += m.stateBytes;
    }
    return { numTensors, numBytes };
  }
}

export class OrtLocalModel implements LocalModel {
  readonly paramCount: number;
  readonly flopsPerImage: number;
  private readonly defs: readonly ParamDef[];
  private state = new Map<string, Float32Array>();
  private disposed = false;
  /** The data-parallel buffers of the last epoch (parallel.ts), reused by the next. */
  private binding: ParallelBinding | null = null;

  constructor(
    private readonly engine: OrtEngine,
    readonly spec: ModelSpec,
  ) {
    const built = engine.compiledFor(spec).train;
    this.defs = built.params;
    this.flopsPerImage = built.flopsPerImage;
    let count = 0;
    for (const p of this.defs) {
      const size = p.shape.reduce((a, b) => a * b, 1);
      if (p.trainable) count += size;
      this.state.set(p.name, initValues(spec.seed, p.name, size, p.init));
    }
    this.paramCount = count;
  }

  get stateTensorCount(): number {
    return this.disposed ? 0 : this.state.size;
  }

  get stateBytes(): number {
    let n = 0;
    for (const v of this.state.values()) n += v.byteLength;
    return n;
  }

  private checkAlive(): void {
    if (this.disposed) throw new TinyProtoError('E_MODEL', 'model used after dispose()');
  }

  private tensor(data: Float32Array, dims: readonly number[]): OrtTensor {
    return new this.engine.ort.Tensor('float32', data, dims);
  }

  private feedState(feeds: Record<string, OrtTensor>): void {
    for (const p of this.defs) feeds[p.name] = this.tensor(this.state.get(p.name)!, p.shape);
  }

  async trainEpoch(x: Float32Array, y: Int32Array, opts: TrainOptions): Promise<EpochStats> {
    this.checkAlive();
    const parts = this.engine.partRunners();
    if (parts !== null) return this.trainEpochOn(parts, x, y, opts);
    const t0 = performance.now();
    const { useProto } = checkTrainArgs(this.spec, x, y, opts);
    const session = await this.engine.session(this.spec, 'train');
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = imageSize(this.spec);
    const pw = useProto ? prototypeWeights(K, d, opts) : null;
    const wd = pw?.width ?? 1;
    const protos = opts.globalPrototypes;
    const bs = opts.batchSize;
    const xb = new Float32Array(bs * per);
    const onehot = new Float32Array(bs * K);
    const target = new Float32Array(bs * d);
    const weight = new Float32Array(bs * wd);
    const lambda = this.tensor(new Float32Array([useProto ? opts.lambda : 0]), []);
    const lr = this.tensor(new Float32Array([opts.lr]), []);
    const clip = clipLimit(opts.clipNorm);
    const clipNorm = this.tensor(new Float32Array([clip]), []);
    const normOut = new Float32Array(1);
    const contrast: Record<string, OrtTensor> = {};
    for (const f of contrastFeeds(contrastInputs(K, d, opts.contrast), K, d)) contrast[f.name] = this.tensor(f.values, f.dims);

    // Double-buffered weights: each step reads one set and onnxruntime writes the updated
    // weights straight into the other (pre-allocated outputs), then the two swap. A step then
    // allocates nothing on the JS side, which keeps the garbage collector (and RSS) quiet.
    let current = this.state;
    let spare = new Map<string, Float32Array>();
    for (const p of this.defs) spare.set(p.name, new Float32Array(current.get(p.name)!.length));
    const lossOut = new Float32Array(3);
    const collected = opts.collectFeatures === true ? new FeatureSums(K, d) : null;
    const featOut = collected === null ? null : new Float32Array(bs * d);
    const fullBatch = {
      x: this.tensor(xb, [bs, h, w, c]),
      onehot: this.tensor(onehot, [bs, K]),
      protoTarget: this.tensor(target, [bs, d]),
      protoWeight: this.tensor(weight, [bs, wd]),
    };
    const bindings = (read: Map<string, Float32Array>, write: Map<string, Float32Array>): { feeds: Record<string, OrtTensor>; fetches: Record<string, OrtTensor> } => {
      const feeds: Record<string, OrtTensor> = { lambda, lr, clipNorm, ...contrast, ...fullBatch };
      const fetches: Record<string, OrtTensor> = { loss: this.tensor(lossOut, [3]), gradNorm: this.tensor(normOut, []) };
      if (featOut !== null) fetches['features'] = this.tensor(featOut, [bs, d]);
      for (const p of this.defs) {
        feeds[p.name] = this.tensor(read.get(p.name)!, p.shape);
        fetches[nextName(p.name)] = this.tensor(write.get(p.name)!, p.shape);
      }
      return { feeds, fetches };
    };
    let io = bindings(current, spare);
    let ioSwapped = bindings(spare, current);

    let sumLoss = 0;
    let sumCe = 0;
    let sumProto = 0;
    let steps = 0;
    let samples = 0;
    let gradNormMax = 0;
    let clippedSteps = 0;
    for (const batch of epochBatches(y.length, bs, opts.shuffleSeed)) {
      this.checkAlive();
      const B = batch.length;
      onehot.fill(0);
      for (let i = 0; i < B; i++) {
        const idx = batch[i]!;
        const label = y[idx]!;
        xb.set(x.subarray(idx * per, (idx + 1) * per), i * per);
        onehot[i * K + label] = 1;
        if (pw !== null && protos !== null) {
          if (wd === 1) weight[i] = pw.weights[label]!;
          else weight.set(pw.weights.subarray(label * d, (label + 1) * d), i * d);
          target.set(protos.subarray(label * d, (label + 1) * d), i * d);
        }
      }
      // a full batch uses the feeds bound once per epoch; only a last partial batch builds its own
      const feeds =
        B === bs
          ? io.feeds
          : {
              ...io.feeds,
              x: this.tensor(xb.subarray(0, B * per), [B, h, w, c]),
              onehot: this.tensor(onehot.subarray(0, B * K), [B, K]),
              protoTarget: this.tensor(target.subarray(0, B * d), [B, d]),
              protoWeight: this.tensor(weight.subarray(0, B * wd), [B, wd]),
            };
      const fetches = B === bs || featOut === null ? io.fetches : { ...io.fetches, features: this.tensor(featOut.subarray(0, B * d), [B, d]) };
      await session.run(feeds, fetches);
      if (collected !== null) collected.add(featOut!, batch, y);
      [current, spare] = [spare, current];
      [io, ioSwapped] = [ioSwapped, io];
      this.state = current;
      const [l, ce, pr] = [lossOut[0]!, lossOut[1]!, lossOut[2]!];
      if (!Number.isFinite(l)) {
        throw new TinyProtoError('E_NON_FINITE', `trainEpoch: non-finite loss ${l} at step ${steps}`, { family: this.spec.family, loss: l, step: steps, ce, proto: pr });
      }
      sumLoss += l;
      sumCe += ce;
      sumProto += pr;
      gradNormMax = Math.max(gradNormMax, normOut[0]!);
      if (normOut[0]! > clip) clippedSteps++;
      steps++;
      samples += B;
    }
    const k = Math.max(steps, 1);
    return { loss: sumLoss / k, ceLoss: sumCe / k, protoLoss: sumProto / k, samples, steps, seconds: (performance.now() - t0) / 1000, gradNormMax, clippedSteps, ...(collected === null ? {} : { classFeatures: collected }) };
  }

  /** Data-parallel epoch on `runners` (parallel.ts; also the tests' single-core reference). */
  async trainEpochOn(runners: PartRunners, x: Float32Array, y: Int32Array, opts: TrainOptions): Promise<EpochStats> {
    this.checkAlive();
    const c = this.engine.compiledFor(this.spec);
    c.grads ??= buildTrainGraph(this.spec, 'grads').bytes;
    const { stats, state, binding } = await parallelTrainEpoch(
      { spec: this.spec, defs: this.defs, state: this.state, graphKey: specKey(this.spec), graphBytes: c.grads, threads: this.engine.threads, runners, checkAlive: () => this.checkAlive() },
      x,
      y,
      opts,
      this.binding,
    );
    this.state = state;
    this.binding = binding;
    return stats;
  }

  async embed(x: Float32Array, n: number, batchSize = 256): Promise<Embedding> {
    this.checkAlive();
    checkEmbedArgs(this.spec, x, n, batchSize);
    const session = await this.engine.session(this.spec, 'infer');
    const { featureDim: d, numClasses: K } = this.spec;
    const [h, w, c] = this.spec.inputShape;
    const per = imageSize(this.spec);
    const features = new Float32Array(n * d);
    const logits = new Float32Array(n * K);
    const feeds: Record<string, OrtTensor> = {};
    this.feedState(feeds);
    for (let start = 0; start < n; start += batchSize) {
      const B = Math.min(batchSize, n - start);
      feeds['x'] = this.tensor(x.subarray(start * per, (start + B) * per), [B, h, w, c]);
      const out = await session.run(feeds);
      features.set(out['features']!.data as Float32Array, start * d);
      logits.set(out['logits']!.data as Float32Array, start * K);
    }
    return { features, logits };
  }

  getState(): ModelState {
    this.checkAlive();
    const out: ModelState = {};
    for (const p of this.defs) out[p.name] = { shape: [...p.shape], data: Float32Array.from(this.state.get(p.name)!) };
    return out;
  }

  setState(state: ModelState): void {
    this.checkAlive();
    checkState(this.defs, state);
    const next = new Map<string, Float32Array>();
    for (const p of this.defs) next.set(p.name, Float32Array.from(state[p.name]!.data));
    this.state = next;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.state.clear();
    this.binding = null;
    this.engine.forget(this);
  }
}
