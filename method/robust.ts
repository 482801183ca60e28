/**
 * Robustness of the aggregation against one bad (or malicious) client: every value is checked
 * before it counts, and each upload's influence on a global prototype is bounded by clipping its
 * per-class L2 norm before the sum. Pure functions; the aggregator calls `checkUploadValues` when
 * it validates an upload and `clipUpload` on every upload before summing (method/global.ts).
 *
 * The bounds are stated per prototype, in feature units, and converted with mu for TinyProto:
 *
 *   honest TinyProto upload  u_ij = n_ij * p_ij (masked),   P_j = mu * sum_i u_ij
 *   mu is about 0.65 / (training samples per class), so mu * n_ij <= about 0.65 * n_ij / N_j <= 1
 *   whenever a client holds at most the class's share of the samples (N_j = the class's samples).
 *
 *   value bound   |u_t| <= featureValueBound / mu   (FedProto: |p_t| <= featureValueBound)
 *   norm clip     ||u_ij|| <= prototypeNormBound / mu, scaled down to it when longer
 *                 (FedProto: ||p_ij|| <= prototypeNormBound)
 *
 * so one client moves P_j by at most prototypeNormBound (L2) per round under TinyProto, and by at
 * most (prototypeNormBound + ||honest mean||) / contributors under FedProto. An honest TinyProto
 * upload is clipped only if mu * n_ij * ||p_ij|| > prototypeNormBound. With the automatic mu
 * (0.65 K / N) and a client holding at most the class's N_j ~ N / K samples, mu * n_ij <= 0.65: the
 * class mean would have to be longer than 154 (measured: at most 5). A class c times more frequent
 * than average lowers that to 154 / c; a hand-set mu m times the automatic one to 154 / m.
 *
 * Defaults, measured (README "Robustness"): a 4-client, 2-round, 300-sample Fashion-MNIST
 * simulation (d = 500, mu = 7.2e-3) had at most |feature| = 0.84, feature L2 norm 4.97, upload
 * |n p| = 53.6 and upload L2 norm 150 (i.e. mu * norm = 1.09). The defaults leave a wide margin:
 * featureValueBound = 1e4 (12,000x the largest feature value), prototypeNormBound = 100 (20x the
 * longest whole d = 500 feature vector; a masked prototype is shorter still).
 */
import { TinyProtoError } from '../common/errors.ts';
import type { Method } from './method.ts';
import type { ClassUpload } from './aggregate.ts';

/** Largest |value| of a feature (hence of a prototype) that is believable. */
export const FEATURE_VALUE_BOUND = 1e4;
/** Largest L2 norm of a (masked) class prototype that is believable. */
export const PROTOTYPE_NORM_BOUND = 100;

export interface RobustBounds {
  method: Method;
  /** TinyProto's mu (required for 'tinyproto'). */
  mu: number | null;
  featureValueBound?: number;
  prototypeNormBound?: number;
}

function scaleOf(b: RobustBounds): number {
  if (b.method !== 'tinyproto') return 1;
  if (b.mu === null || !(b.mu > 0) || !Number.isFinite(b.mu)) {
    throw new TinyProtoError('E_ARGUMENT', `tinyproto bounds need mu > 0, got ${String(b.mu)}`, { mu: b.mu });
  }
  return 1 / b.mu;
}

/** |value| an upload may carry: featureValueBound (/ mu for TinyProto's count-scaled values). */
export function uploadValueBound(b: RobustBounds): number {
  return (b.featureValueBound ?? FEATURE_VALUE_BOUND) * scaleOf(b);
}

/** L2 norm one class of one upload is clipped to: prototypeNormBound (/ mu for TinyProto). */
export function uploadNormBound(b: RobustBounds): number {
  return (b.prototypeNormBound ?? PROTOTYPE_NORM_BOUND) * scaleOf(b);
}

type Entries = ClassUpload | Iterable<{ classId: number; values: Float32Array }>;

function entries(u: Entries): [number, Float32Array][] {
  if (u instanceof Map) return [...u];
  return [...u].map((p) => [p.classId, p.values]);
}

/**
 * Throws E_NON_FINITE for a NaN/Infinity and E_VALUE_BOUND for a |value| above
 * `uploadValueBound(b)`; `who` names the upload in the message (e.g. 'upload from "a1"').
 */
export function checkUploadValues(upload: Entries, b: RobustBounds, who = 'upload'): void {
  const bound = uploadValueBound(b);
  for (const [classId, v] of entries(upload)) {
    for (let t = 0; t < v.length; t++) {
      const x = v[t]!;
      if (!Number.isFinite(x)) throw new TinyProtoError('E_NON_FINITE', `${who}: class ${classId} has a non-finite value (${x}) at ${t}`, { classId, index: t });
      if (Math.abs(x) > bound) {
        throw new TinyProtoError('E_VALUE_BOUND', `${who}: class ${classId} value ${x} at ${t} exceeds the bound ${bound} (no honest prototype reaches it)`, {
          classId,
          index: t,
          value: x,
          bound,
        });
      }
    }
  }
}

function norm(v: Float32Array): number {
  let q = 0;
  for (let t = 0; t < v.length; t++) q += v[t]! * v[t]!;
  return Math.sqrt(q);
}

export interface ClippedUpload {
  upload: ClassUpload;
  /** Classes whose vector was scaled down, with the norm they had. */
  clipped: { classId: number; norm: number }[];
}

/**
 * Each class vector of `upload` scaled down to L2 norm `uploadNormBound(b)` when longer (its
 * direction kept); shorter vectors are returned as they are (the same arrays). Pure.
 */
export function clipUpload(upload: ClassUpload, b: RobustBounds): ClippedUpload {
  const bound = uploadNormBound(b);
  const out: ClassUpload = new Map();
  const clipped: { classId: number; norm: number }[] = [];
  for (const [classId, v] of upload) {
    const n = norm(v);
    if (!(n > bound)) {
      out.set(classId, v);
      continue;
    }
    const f = bound / n;
    const w = new Float32Array(v.length);
    for (let t = 0; t < v.length; t++) w[t] = v[t]! * f;
    // float32 rounding may leave the norm a hair above the bound: shrink by one ulp-ish step
    if (norm(w) > bound) for (let t = 0; t < w.length; t++) w[t] = w[t]! * (1 - 1e-6);
    out.set(classId, w);
    clipped.push({ classId, norm: n });
  }
  return { upload: out, clipped };
}

/**
 * Agent side: the global prototypes of a GLOBAL are finite, within `maxContributors` times the
 * per-upload norm bound after scaling (what clipping allows), and have plausible contributor
 * counts (0..maxContributors). E_NON_FINITE / E_VALUE_BOUND.
 */
export function checkGlobalValues(
  prototypes: Iterable<{ classId: number; values: Float32Array; contributors: number }>,
  maxContributors: number,
  b: Pick<RobustBounds, 'prototypeNormBound'> = {},
): void {
  const normBound = (b.prototypeNormBound ?? PROTOTYPE_NORM_BOUND) * Math.max(1, maxContributors);
  for (const p of prototypes) {
    if (!Number.isInteger(p.contributors) || p.contributors < 0 || p.contributors > maxContributors) {
      throw new TinyProtoError('E_VALUE_BOUND', `global prototype of class ${p.classId} claims ${p.contributors} contributors, at most ${maxContributors} agents take part`, {
        classId: p.classId,
        contributors: p.contributors,
      });
    }
    for (let t = 0; t < p.values.length; t++) {
      if (!Number.isFinite(p.values[t]!)) throw new TinyProtoError('E_NON_FINITE', `global prototype of class ${p.classId} has a non-finite value at ${t}`, { classId: p.classId, index: t });
    }
    const n = norm(p.values);
    if (n > normBound) {
      throw new TinyProtoError('E_VALUE_BOUND', `global prototype of class ${p.classId} has norm ${n}, above ${normBound}`, { classId: p.classId, norm: n, bound: normBound });
    }
  }
}
