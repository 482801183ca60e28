/**
 * Argument checks and batching shared by both engines, so that they accept exactly the same
 * inputs, reject bad ones with the same errors, and visit the same mini-batches.
 */
import type { ClassFeatureSums, ModelSpec, ModelState, TrainOptions } from './engine.ts';
import { TinyProtoError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';

export function imageSize(spec: ModelSpec): number {
  const [h, w, c] = spec.inputShape;
  return h * w * c;
}

/** Validate trainEpoch's arguments; returns whether the prototype term is on. */
export function checkTrainArgs(spec: ModelSpec, x: Float32Array, y: Int32Array, opts: TrainOptions): { useProto: boolean } {
  const { featureDim: d, numClasses: K } = spec;
  const per = imageSize(spec);
  const n = y.length;
  if (x.length !== n * per) throw new TinyProtoError('E_SHAPE', `trainEpoch: x has ${x.length} values, expected ${n} x ${per}`);
  if (!Number.isInteger(opts.batchSize) || opts.batchSize < 2) {
    throw new TinyProtoError('E_CONFIG', `trainEpoch: batchSize must be an integer >= 2, got ${opts.batchSize}`);
  }
  if (!(opts.lr > 0) || !Number.isFinite(opts.lr)) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad lr ${opts.lr}`);
  if (!(opts.lambda >= 0) || !Number.isFinite(opts.lambda)) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad lambda ${opts.lambda}`);
  if (opts.clipNorm !== undefined && (!(opts.clipNorm >= 0) || !Number.isFinite(opts.clipNorm))) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad clipNorm ${opts.clipNorm}: it must be >= 0 and finite (0 = off)`);
  for (let i = 0; i < n; i++) {
    const v = y[i]!;
    if (v < 0 || v >= K) throw new TinyProtoError('E_SHAPE', `trainEpoch: label ${v} at ${i} outside [0, ${K})`);
  }
  if (opts.globalPrototypes !== null && opts.globalPrototypes.length !== K * d) {
    throw new TinyProtoError('E_SHAPE', `trainEpoch: globalPrototypes has ${opts.globalPrototypes.length} values, expected ${K} x ${d}`);
  }
  if (opts.hasGlobal !== null && opts.hasGlobal.length !== K) {
    throw new TinyProtoError('E_SHAPE', `trainEpoch: hasGlobal has ${opts.hasGlobal.length} flags, expected ${K}`);
  }
  const w = opts.classWeights;
  if (w !== undefined && w !== null) {
    if (w.length !== K && w.length !== K * d) throw new TinyProtoError('E_SHAPE', `trainEpoch: classWeights has ${w.length} values, expected ${K} or ${K} x ${d}`);
    for (let i = 0; i < w.length; i++) if (!(w[i]! >= 0) || !Number.isFinite(w[i]!)) throw new TinyProtoError('E_CONFIG', `trainEpoch: bad class weight ${w[i]} at ${i}`);
  }
  return { useProto: opts.globalPrototypes !== null && opts.lambda > 0 };
}

/** The clipping limit a step compares the gradient norm with: +Infinity when clipping is off (absent or 0). */
export function clipLimit(clipNorm: number | undefined): number {
  return clipNorm === undefined || clipNorm === 0 ? Number.POSITIVE_INFINITY : clipNorm;
}

/** The factor on a step's gradient of global norm `norm`: min(1, limit / norm), exactly 1 when the norm is within it. */
export function clipScale(norm: number, limit: number): number {
  return norm > limit ? limit / norm : 1;
}

/**
 * The prototype term's weights as rows of `width` values per class: the flags of `hasGlobal`
 * (width 1, the paper's loss) or `classWeights` (width 1 or d).
 */
export function prototypeWeights(K: number, d: number, opts: Pick<TrainOptions, 'hasGlobal' | 'classWeights'>): { weights: Float32Array; width: number } {
  const w = opts.classWeights;
  if (w === undefined || w === null) return { weights: prototypeFlags(K, opts.hasGlobal), width: 1 };
  return { weights: w, width: w.length === K ? 1 : d };
}

/** K per-class weights of the prototype term: 1 where class j has a global prototype. */
export function prototypeFlags(K: number, hasGlobal: Uint8Array | null): Float32Array {
  const flags = new Float32Array(K);
  for (let j = 0; j < K; j++) flags[j] = hasGlobal === null ? 1 : hasGlobal[j]! !== 0 ? 1 : 0;
  return flags;
}

/**
 * The epoch's mini-batches: indices shuffled with Rng(shuffleSeed), batches of batchSize with the
 * last partial batch included, except a final batch of exactly one sample (batch norm in
 * training mode cannot normalise one sample; PyTorch raises on it).
 */
export function epochBatches(n: number, batchSize: number, shuffleSeed: number): Int32Array[] {
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  new Rng(shuffleSeed).shuffle(order);
  const out: Int32Array[] = [];
  for (let start = 0; start < n; start += batchSize) {
    const B = Math.min(batchSize, n - start);
    if (B < 2) break;
    out.push(order.subarray(start, start + B));
  }
  return out;
}

export function checkEmbedArgs(spec: ModelSpec, x: Float32Array, n: number, batchSize: number): void {
  const per = imageSize(spec);
  if (!Number.isInteger(n) || n < 0 || x.length !== n * per) {
    throw new TinyProtoError('E_SHAPE', `embed: x has ${x.length} values, expected ${n} x ${per}`);
  }
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new TinyProtoError('E_CONFIG', `embed: bad batchSize ${batchSize}`);
}

/** setState's checks: exactly the known names, each with its shape and size. */
export function checkState(entries: readonly { name: string; shape: readonly number[] }[], state: ModelState): void {
  const known = new Set(entries.map((e) => e.name));
  const extra = Object.keys(state).filter((k) => !known.has(k));
  if (extra.length > 0) throw new TinyProtoError('E_SHAPE', `setState: unknown parameters ${extra.slice(0, 5).join(', ')}`, { extra });
  for (const e of entries) {
    const s = state[e.name];
    if (s === undefined) throw new TinyProtoError('E_SHAPE', `setState: missing parameter ${e.name}`);
    const same = s.shape.length === e.shape.length && s.shape.every((v, i) => v === e.shape[i]);
    if (!same) throw new TinyProtoError('E_SHAPE', `setState: ${e.name} has shape [${s.shape}], expected [${e.shape}]`);
    const size = e.shape.reduce((a, b) => a * b, 1);
    if (s.data.length !== size) throw new TinyProtoError('E_SHAPE', `setState: ${e.name} has ${s.data.length} values, expected ${size}`);
  }
}

/** Accumulates TrainOptions.collectFeatures: each step's batch features, by the batch's labels. */
export class FeatureSums implements ClassFeatureSums {
  readonly sums: Float64Array;
  readonly counts: Int32Array;
  private readonly d: number;

  constructor(K: number, d: number) {
    this.sums = new Float64Array(K * d);
    this.counts = new Int32Array(K);
    this.d = d;
  }

  /** `features` holds at least batch.length rows of d; row i belongs to sample batch[i] of labels `y`. */
  add(features: ArrayLike<number>, batch: Int32Array, y: Int32Array): void {
    const d = this.d;
    for (let i = 0; i < batch.length; i++) {
      const j = y[batch[i]!]!;
      this.counts[j]!++;
      const o = j * d;
      for (let k = 0; k < d; k++) this.sums[o + k]! += features[i * d + k]!;
    }
  }
}
