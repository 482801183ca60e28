/**
 * Data-parallel training of one model: each batch is split into W parts, W ONNX Runtime sessions
 * (one per worker thread, train-worker.ts) compute the gradients of their part with the 'grads'
 * training graph, and this thread combines them, weighted by part size, into the one SGD update.
 *
 * Batch-norm semantics ("ghost batch norm"): each part normalises with its own batch statistics,
 * so a step's gradient is that of sum_i (n_i / B) * loss_i, where loss_i is the part's mean loss
 * under its own statistics, and the running statistics become the size-weighted mean of the
 * parts' updates (running mean and unbiased variance, momentum 0.1, as in single-part training).
 * With one part this is exactly the single-session training step. Parts are contiguous slices of
 * the shuffled batch, sizes as equal as possible (splitBatch), each at least 2 samples (batch
 * norm's unbiased variance needs two). `InThreadParts` runs the same parts one after another in
 * the calling thread: single-core training with the same semantics, the reference of the tests.
 *
 * Tensors live in SharedArrayBuffers: the weights (read by every worker, written here between
 * steps), each worker's batch part and its outputs. They are bound once per epoch, so a step
 * posts one small message per worker and copies nothing through the channel.
 */
import { Worker } from 'node:worker_threads';
import { TinyProtoError } from '../../common/errors.ts';
import { COMPILED } from '../../common/runtime.ts';
import type { EpochStats, ModelSpec, TrainOptions } from '../engine.ts';
import type { ParamDef } from '../arch/builder.ts';
import { checkTrainArgs, clipLimit, clipScale, epochBatches, imageSize, prototypeWeights } from '../train-args.ts';
import { contrastFeeds, gradName, nextName } from './graphs.ts';
import { contrastInputs } from '../contrast.ts';
import { GradRunner } from './grad-runner.ts';
import type { SharedSlot, TrainWorkerReply, TrainWorkerRequest, TrainWorkerStats } from './train-protocol.ts';

/** Part sizes of a batch of B over at most W parts: as equal as possible, each >= 2, in order. */
export function splitBatch(B: number, W: number): number[] {
  const parts = Math.max(1, Math.min(W, Math.floor(B / 2)));
  const base = Math.floor(B / parts);
  const extra = B % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

/** W gradient runners: worker threads (WorkerParts) or one after another here (InThreadParts). */
export interface PartRunners {
  readonly parts: number;
  /** Sends a request to runner i. */
  call(i: number, req: TrainWorkerRequest): Promise<unknown>;
  /** Runs one step on the first rows.length runners, runner i on rows[i] rows. */
  step(rows: readonly number[]): Promise<void>;
  /** Which binding the runners hold (a model's epoch binding; rebinding when another model trains). */
  boundTo: object | null;
  close(): Promise<void>;
}

/** The reference: the parts run one after another in this thread, sharing one session per graph. */
export class InThreadParts implements PartRunners {
  boundTo: object | null = null;
  private readonly runners: GradRunner[];
  constructor(readonly parts: number) {
    const sessions = new Map();
    this.runners = Array.from({ length: parts }, () => new GradRunner(sessions));
  }
  call(i: number, req: TrainWorkerRequest): Promise<unknown> {
    return this.runners[i]!.handle(req);
  }
  async step(rows: readonly number[]): Promise<void> {
    for (let i = 0; i < rows.length; i++) await this.runners[i]!.handle({ kind: 'step', rows: rows[i]! });
  }
  async close(): Promise<void> {}
}

class PartWorker {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private failed: Error | null = null;
  private closing = false;

  constructor(index: number) {
    // compiled: the worker itself; from sources: a bootstrap registers tsx in the thread first
    this.worker = new Worker(new URL(COMPILED ? './train-worker.js' : './train-worker-boot.mjs', import.meta.url), { name: `tinyproto-train-${index}` });
    this.worker.unref(); // an idle trainer never keeps the process alive
    this.worker.on('message', (m: TrainWorkerReply) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) this.worker.unref();
      if (m.ok) p.resolve(m.result);
      else p.reject(new TinyProtoError('E_WORKER', `train worker ${index}: ${m.error.message}`, { code: m.error.code }));
    });
    const die = (e: Error): void => {
      this.failed = e;
      for (const p of this.pending.values()) p.reject(new TinyProtoError('E_WORKER', `train worker ${index} failed: ${e.message}`));
      this.pending.clear();
    };
    this.worker.on('error', die);
    // an exit fails whatever is still pending: a crash, or close() during a step
    this.worker.on('exit', (code) => die(new Error(this.closing ? 'closed' : `exited with code ${code}`)));
  }

  call(req: TrainWorkerRequest): Promise<unknown> {
    if (this.failed) return Promise.reject(new TinyProtoError('E_WORKER', `train worker failed earlier: ${this.failed.message}`));
    if (this.closing) return Promise.reject(new TinyProtoError('E_WORKER', 'train worker used after close()'));
    const id = this.nextId++;
    const p = new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...req, id });
    });
    this.inFlight.add(p);
    const settled = (): void => void this.inFlight.delete(p);
    p.then(settled, settled);
    return p;
  }

  /**
   * Lets the requests in flight finish (at most one step or session load), then ends the thread:
   * terminating a worker inside an onnxruntime call aborts the whole process.
   */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.allSettled([...this.inFlight]);
    await this.worker.terminate();
  }
}

/** W worker threads, each with its own ONNX Runtime session per graph. */
export class WorkerParts implements PartRunners {
  boundTo: object | null = null;
  private readonly workers: PartWorker[];
  constructor(readonly parts: number) {
    this.workers = Array.from({ length: parts }, (_, i) => new PartWorker(i));
  }
  call(i: number, req: TrainWorkerRequest): Promise<unknown> {
    return this.workers[i]!.call(req);
  }
  async step(rows: readonly number[]): Promise<void> {
    await Promise.all(rows.map((r, i) => this.workers[i]!.call({ kind: 'step', rows: r })));
  }
  /** Every worker's own report (tests: buffers must not grow across steps). */
  stats(collect = false): Promise<TrainWorkerStats[]> {
    return Promise.all(this.workers.map((w) => w.call({ kind: 'stats', collect }) as Promise<TrainWorkerStats>));
  }
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close()));
  }
}

/** Float32 slots laid out one after another in one shared buffer. */
function layout(entries: readonly { name: string; dims: readonly number[]; fixed?: true }[]): { slots: SharedSlot[]; floats: number } {
  let offset = 0;
  const slots = entries.map((e) => {
    const length = e.dims.reduce((a, b) => a * b, 1);
    const s: SharedSlot = { name: e.name, offset, length, dims: [...e.dims], ...(e.fixed ? { fixed: true } : {}) };
    offset += length;
    return s;
  });
  return { slots, floats: offset };
}

export interface ParallelEpoch {
  readonly spec: ModelSpec;
  readonly defs: readonly ParamDef[];
  /** The model's state; read at the start, the trained state returned. */
  readonly state: ReadonlyMap<string, Float32Array>;
  /** The 'grads' training graph (graphs.ts) and its cache key. */
  readonly graphKey: string;
  readonly graphBytes: Uint8Array;
  /** Intra-op threads of each part's session. */
  readonly threads: number;
  readonly runners: PartRunners;
  readonly checkAlive: () => void;
}

/** Shared buffers of one model's epochs on one set of runners (kept while nothing else binds them). */
export interface ParallelBinding {
  readonly runners: PartRunners;
  readonly batchSize: number;
  /** Prototype weights per row: 1 or d (TrainOptions.classWeights). */
  readonly weightWidth: number;
  readonly parts: number;
  readonly weights: Float32Array;
  readonly weightSlots: readonly SharedSlot[];
  readonly inputs: readonly Float32Array[];
  readonly inputSlots: readonly SharedSlot[];
  readonly outputs: readonly Float32Array[];
  readonly outputSlots: readonly SharedSlot[];
}

async function bind(p: ParallelEpoch, bs: number, weightWidth: number): Promise<ParallelBinding> {
  const { spec, defs, runners } = p;
  const { featureDim: d, numClasses: K } = spec;
  const [h, w, c] = spec.inputShape;
  const W = splitBatch(bs, runners.parts).length;
  // a part of a small last batch can hold up to 3 rows (B / floor(B / 2))
  const cap = Math.min(bs, Math.max(Math.ceil(bs / W), 3));
  const wl = layout(defs.map((q) => ({ name: q.name, dims: q.shape })));
  const il = layout([
    { name: 'x', dims: [cap, h, w, c] },
    { name: 'onehot', dims: [cap, K] },
    { name: 'protoTarget', dims: [cap, d] },
    { name: 'protoWeight', dims: [cap, weightWidth] },
    { name: 'lambda', dims: [] },
    // the prototype contrast's constants (models/contrast.ts): one per epoch, not per row
    { name: 'contrastW', dims: [K, d], fixed: true },
    { name: 'contrastWP', dims: [K, d], fixed: true },
    { name: 'contrastC', dims: [K], fixed: true },
    { name: 'contrastAvail', dims: [K], fixed: true },
    { name: 'gamma', dims: [] },
  ]);
  const ol = layout([{ name: 'loss', dims: [3] }, ...defs.map((q) => ({ name: q.trainable ? gradName(q.name) : nextName(q.name), dims: q.shape }))]);
  const weightsBuf = new SharedArrayBuffer(wl.floats * 4);
  const inputs = Array.from({ length: W }, () => new SharedArrayBuffer(il.floats * 4));
  const outputs = Array.from({ length: W }, () => new SharedArrayBuffer(ol.floats * 4));
  await Promise.all(
    Array.from({ length: W }, async (_, i) => {
      await runners.call(i, { kind: 'load', key: p.graphKey, bytes: p.graphBytes, threads: p.threads });
      await runners.call(i, { kind: 'bind', key: p.graphKey, weights: weightsBuf, weightSlots: wl.slots, inputs: inputs[i]!, inputSlots: il.slots, outputs: outputs[i]!, outputSlots: ol.slots });
    }),
  );
  const b: ParallelBinding = {
    runners,
    batchSize: bs,
    weightWidth,
    parts: W,
    weights: new Float32Array(weightsBuf),
    weightSlots: wl.slots,
    inputs: inputs.map((x) => new Float32Array(x)),
    inputSlots: il.slots,
    outputs: outputs.map((x) => new Float32Array(x)),
    outputSlots: ol.slots,
  };
  runners.boundTo = b;
  return b;
}

/**
 * One epoch of data-parallel training (semantics in the file comment). `previous` is the
 * binding of this model's last epoch: reused when its runners still hold it and the batch size is
 * the same, so steady-state epochs create no buffers or tensors at all.
 */
export async function parallelTrainEpoch(
  p: ParallelEpoch,
  x: Float32Array,
  y: Int32Array,
  opts: TrainOptions,
  previous: ParallelBinding | null,
): Promise<{ stats: EpochStats; state: Map<string, Float32Array>; binding: ParallelBinding }> {
  const t0 = performance.now();
  const { spec, defs, runners } = p;
  const { useProto } = checkTrainArgs(spec, x, y, opts);
  if (opts.collectFeatures === true) throw new TinyProtoError('E_CONFIG', 'collectFeatures needs one training session: use trainThreads 1');
  const { featureDim: d, numClasses: K } = spec;
  const per = imageSize(spec);
  const pw = useProto ? prototypeWeights(K, d, opts) : null;
  const wd = pw?.width ?? 1;
  const protos = opts.globalPrototypes;
  const bs = opts.batchSize;
  const reuse = previous !== null && previous.runners === runners && runners.boundTo === previous && previous.batchSize === bs && previous.weightWidth === wd;
  const binding = reuse ? previous : await bind(p, bs, wd);
  const { weights, weightSlots, inputs: inView, outputs: outView, parts: W } = binding;
  for (const s of weightSlots) weights.set(p.state.get(s.name)!, s.offset);
  const slot = (name: string): SharedSlot => binding.inputSlots.find((s) => s.name === name)!;
  const [xs, hs, ts, ws, ls] = ['x', 'onehot', 'protoTarget', 'protoWeight', 'lambda'].map(slot) as [SharedSlot, SharedSlot, SharedSlot, SharedSlot, SharedSlot];
  for (const v of inView) v[ls.offset] = useProto ? opts.lambda : 0;
  for (const f of contrastFeeds(contrastInputs(K, d, opts.contrast), K, d)) for (const v of inView) v.set(f.values, slot(f.name).offset);

  // offsets of each parameter in the weights and in every output buffer
  const pairs = defs.map((q, k) => ({ trainable: q.trainable, wo: weightSlots[k]!.offset, oo: binding.outputSlots[k + 1]!.offset, n: weightSlots[k]!.length }));
  let sumLoss = 0;
  let sumCe = 0;
  let sumProto = 0;
  let steps = 0;
  let samples = 0;
  let gradNormMax = 0;
  let clippedSteps = 0;
  const limit = clipLimit(opts.clipNorm);
  for (const batch of epochBatches(y.length, bs, opts.shuffleSeed)) {
    p.checkAlive();
    if (runners.boundTo !== binding) throw new TinyProtoError('E_MODEL', 'another model trained on these workers during this epoch');
    const B = batch.length;
    const rows = splitBatch(B, W);
    let start = 0;
    for (let i = 0; i < rows.length; i++) {
      const v = inView[i]!;
      const r = rows[i]!;
      v.fill(0, hs.offset, hs.offset + r * K);
      for (let j = 0; j < r; j++) {
        const idx = batch[start + j]!;
        const label = y[idx]!;
        v.set(x.subarray(idx * per, (idx + 1) * per), xs.offset + j * per);
        v[hs.offset + j * K + label] = 1;
        if (pw !== null && protos !== null) {
          if (wd === 1) v[ws.offset + j] = pw.weights[label]!;
          else v.set(pw.weights.subarray(label * d, (label + 1) * d), ws.offset + j * d);
          v.set(protos.subarray(label * d, (label + 1) * d), ts.offset + j * d);
        } else {
          v.fill(0, ws.offset + j * wd, ws.offset + (j + 1) * wd);
        }
      }
      start += r;
    }
    await runners.step(rows);
    const share = rows.map((r) => r / B);
    let l = 0;
    let ce = 0;
    let pr = 0;
    for (let i = 0; i < rows.length; i++) {
      l += share[i]! * outView[i]![0]!;
      ce += share[i]! * outView[i]![1]!;
      pr += share[i]! * outView[i]![2]!;
    }
    if (!Number.isFinite(l)) {
      throw new TinyProtoError('E_NON_FINITE', `trainEpoch: non-finite loss ${l} at step ${steps}`, { family: spec.family, loss: l, step: steps, ce, proto: pr });
    }
    // the size-weighted gradient's global norm first, for clipping (TrainOptions.clipNorm)
    let squares = 0;
    for (const q of pairs) {
      if (!q.trainable) continue;
      for (let j = 0; j < q.n; j++) {
        let acc = 0;
        for (let i = 0; i < rows.length; i++) acc += share[i]! * outView[i]![q.oo + j]!;
        squares += acc * acc;
      }
    }
    const norm = Math.fround(Math.sqrt(squares));
    const step = opts.lr * clipScale(norm, limit);
    gradNormMax = Math.max(gradNormMax, norm);
    if (norm > limit) clippedSteps++;
    for (const q of pairs) {
      for (let j = 0; j < q.n; j++) {
        let acc = 0;
        for (let i = 0; i < rows.length; i++) acc += share[i]! * outView[i]![q.oo + j]!;
        // trainable: SGD on the size-weighted gradient; running statistic: size-weighted update
        weights[q.wo + j] = q.trainable ? weights[q.wo + j]! - step * acc : acc;
      }
    }
    sumLoss += l;
    sumCe += ce;
    sumProto += pr;
    steps++;
    samples += B;
  }
  const state = new Map<string, Float32Array>();
  for (const s of weightSlots) state.set(s.name, weights.slice(s.offset, s.offset + s.length));
  const k = Math.max(steps, 1);
  return { stats: { loss: sumLoss / k, ceLoss: sumCe / k, protoLoss: sumProto / k, samples, steps, seconds: (performance.now() - t0) / 1000, gradNormMax, clippedSteps }, state, binding };
}
