/**
 * Client-side prototype maths: class means of feature vectors and the payloads a client
 * uploads (TinyProto: count-scaled masked prototypes; FedProto: dense prototypes).
 * Pure functions on typed arrays.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { median } from '../common/stats.ts';

export interface ClassPrototypes {
  /** Samples per class. */
  counts: Int32Array;
  /** K*d row-major per-class feature sums. */
  sums: Float32Array;
  /** K*d row-major per-class means (zeros for absent classes). */
  means: Float32Array;
}

/** Throws E_NON_FINITE if any value is NaN or +-Infinity. */
export function assertFinite(values: Float32Array | Float64Array, what: string): void {
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]!)) {
      throw new TinyProtoError('E_NON_FINITE', `${what} contains a non-finite value (${values[i]}) at index ${i}`, {
        what,
        index: i,
      });
    }
  }
}

/**
 * Per-class sums, counts and means of n feature vectors of dimension d (row-major
 * `features`, length n*d) with labels in [0, K). Accumulates in float64.
 */
export function classPrototypes(
  features: Float32Array,
  labels: Int32Array,
  n: number,
  d: number,
  K: number,
): ClassPrototypes {
  if (!Number.isInteger(n) || n < 0 || !Number.isInteger(d) || d < 1 || !Number.isInteger(K) || K < 1) {
    throw new TinyProtoError('E_SHAPE', `invalid prototype dimensions n=${n} d=${d} K=${K}`, { n, d, K });
  }
  if (features.length !== n * d) {
    throw new TinyProtoError('E_SHAPE', `features has length ${features.length}, expected n*d = ${n * d}`, {
      got: features.length,
      expected: n * d,
    });
  }
  if (labels.length !== n) {
    throw new TinyProtoError('E_SHAPE', `labels has length ${labels.length}, expected n = ${n}`, {
      got: labels.length,
      expected: n,
    });
  }
  assertFinite(features, 'features');
  const counts = new Int32Array(K);
  const acc = new Float64Array(K * d);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y < 0 || y >= K) {
      throw new TinyProtoError('E_SHAPE', `label ${y} at sample ${i} is outside [0, ${K})`, { label: y, index: i, K });
    }
    counts[y] = counts[y]! + 1;
    const row = i * d;
    const base = y * d;
    for (let t = 0; t < d; t++) acc[base + t] = acc[base + t]! + features[row + t]!;
  }
  const sums = new Float32Array(K * d);
  const means = new Float32Array(K * d);
  for (let j = 0; j < K; j++) {
    const c = counts[j]!;
    const base = j * d;
    for (let t = 0; t < d; t++) {
      const v = acc[base + t]!;
      sums[base + t] = v;
      if (c > 0) means[base + t] = v / c;
    }
  }
  return { counts, sums, means };
}

/** sum over `on` (all d where null) of (a[aRow + k] - b[bRow + k])^2: two rows of d values. */
export function squaredDistanceOn(a: Float32Array, aRow: number, b: Float32Array, bRow: number, d: number, on: Int32Array | null): number {
  let q = 0;
  if (on === null)
    for (let k = 0; k < d; k++) {
      const e = a[aRow + k]! - b[bRow + k]!;
      q += e * e;
    }
  else
    for (const k of on) {
      const e = a[aRow + k]! - b[bRow + k]!;
      q += e * e;
    }
  return q;
}

/**
 * The spread of each class about its own mean on its own support: v_j = the mean over the
 * samples of class j of sum_{k in support[j]} (f_k - means[j, k])^2 (all d where `support` is
 * null). A class with fewer than 2 samples gets the median of the others (1 when no class has 2);
 * a spread is at least 1e-6 of that median (and 1e-12), so it can divide. The 'spread'
 * evaluation rule's scale (learner/eval.ts): local statistics of the client's own training split.
 * Float64 sums.
 */
export function classSpreads(features: Float32Array, labels: Int32Array, d: number, means: Float32Array, support: readonly Int32Array[] | null): Float64Array {
  const n = labels.length;
  const K = means.length / d;
  if (!Number.isInteger(K) || features.length !== n * d) throw new TinyProtoError('E_SHAPE', `features has length ${features.length} and means ${means.length}, expected n*d = ${n * d} and K*d`, { features: features.length, means: means.length, n, d });
  const sum = new Float64Array(K);
  const count = new Int32Array(K);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < K)) throw new TinyProtoError('E_SHAPE', `label ${y} at sample ${i} is outside [0, ${K})`, { label: y, index: i, K });
    sum[y] = sum[y]! + squaredDistanceOn(features, i * d, means, y * d, d, support?.[y] ?? null);
    count[y] = count[y]! + 1;
  }
  const held: number[] = [];
  for (let j = 0; j < K; j++) if (count[j]! >= 2) held.push(sum[j]! / count[j]!);
  const middle = median(held.sort((x, y) => x - y), 1);
  const floor = Math.max(1e-6 * middle, 1e-12);
  return Float64Array.from(sum, (v, j) => Math.max(count[j]! >= 2 ? v / count[j]! : middle, floor));
}

function checkMeans(means: Float32Array, counts: Int32Array, d: number): number {
  const K = counts.length;
  if (means.length !== K * d) {
    throw new TinyProtoError('E_SHAPE', `means has length ${means.length}, expected K*d = ${K * d}`, {
      got: means.length,
      expected: K * d,
    });
  }
  return K;
}

/**
 * TinyProto upload: for every class j with counts[j] > 0, the count-scaled prototype
 * n_ij * p_ij restricted to the class mask (s values, in mask-index order).
 */
export function scaledSparsePrototypes(
  means: Float32Array,
  counts: Int32Array,
  masks: ClassMasks,
): Map<number, Float32Array> {
  const d = masks.params.featureDim;
  const K = checkMeans(means, counts, d);
  if (K !== masks.params.numClasses) {
    throw new TinyProtoError('E_SHAPE', `counts cover ${K} classes, masks cover ${masks.params.numClasses}`, {
      got: K,
      expected: masks.params.numClasses,
    });
  }
  const out = new Map<number, Float32Array>();
  for (let j = 0; j < K; j++) {
    const c = counts[j]!;
    if (c <= 0) continue;
    const idx = masks.indices[j]!;
    const v = new Float32Array(idx.length);
    const base = j * d;
    for (let t = 0; t < idx.length; t++) v[t] = c * means[base + idx[t]!]!;
    assertFinite(v, `scaled prototype of class ${j}`);
    out.set(j, v);
  }
  return out;
}

/** FedProto upload: the dense d-dim prototype of every class with counts[j] > 0. */
export function densePrototypes(means: Float32Array, counts: Int32Array, d: number): Map<number, Float32Array> {
  const K = checkMeans(means, counts, d);
  const out = new Map<number, Float32Array>();
  for (let j = 0; j < K; j++) {
    if (counts[j]! <= 0) continue;
    const v = means.slice(j * d, (j + 1) * d);
    assertFinite(v, `prototype of class ${j}`);
    out.set(j, v);
  }
  return out;
}

export interface ExpandedGlobals {
  /** K*d row-major; zeros off the mask and for classes without a global prototype. */
  prototypes: Float32Array;
  /** 1 where class j has a global prototype. */
  hasGlobal: Uint8Array;
}

/**
 * Expand global prototypes to K*d: sparse (s values, scattered onto the class mask) when masks
 * are given (TinyProto), dense (d values) when masks is null (FedProto).
 */
export function expandGlobalPrototypes(
  globals: Map<number, Float32Array>,
  masks: ClassMasks | null,
  K: number,
  d: number,
): ExpandedGlobals {
  for (const [name, v] of [['K', K], ['d', d]] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TinyProtoError('E_CONFIG', `${name} must be a positive integer, got ${v}`, { [name]: v });
  }
  if (masks !== null && (masks.params.numClasses !== K || masks.params.featureDim !== d)) {
    throw new TinyProtoError(
      'E_SHAPE',
      `masks are for K=${masks.params.numClasses} d=${masks.params.featureDim}, expected K=${K} d=${d}`,
      { maskK: masks.params.numClasses, maskD: masks.params.featureDim, K, d },
    );
  }
  const prototypes = new Float32Array(K * d);
  const hasGlobal = new Uint8Array(K);
  for (const [j, v] of globals) {
    if (!Number.isInteger(j) || j < 0 || j >= K) {
      throw new TinyProtoError('E_SHAPE', `global prototype class id ${j} outside [0, ${K})`, { classId: j, K });
    }
    const expected = masks === null ? d : masks.s;
    if (v.length !== expected) {
      throw new TinyProtoError('E_SHAPE', `global prototype of class ${j} has ${v.length} values, expected ${expected}`, {
        classId: j,
        got: v.length,
        expected,
      });
    }
    const base = j * d;
    if (masks === null) {
      prototypes.set(v, base);
    } else {
      const idx = masks.indices[j]!;
      for (let t = 0; t < idx.length; t++) prototypes[base + idx[t]!] = v[t]!;
    }
    hasGlobal[j] = 1;
  }
  return { prototypes, hasGlobal };
}
