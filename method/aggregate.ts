/**
 * Server-side prototype aggregation. Pure functions: inputs are never mutated.
 *
 * - TinyProto (adaptive prototype scaling): clients upload n_ij * p_ij restricted to the class
 *   mask; the server computes P_j = mu * sum_i (n_ij * p_ij). It never divides by the counts,
 *   which it never learns; mu plays that role.
 * - FedProto: unweighted mean of the dense prototypes of the clients holding class j.
 */
import { TinyProtoError } from '../common/errors.ts';
import { expandGlobalPrototypes, type ExpandedGlobals } from './prototypes.ts';

// expanding global prototypes is shared with the agents; re-exported for the server's callers
export { expandGlobalPrototypes, type ExpandedGlobals };

export type ClassUpload = Map<number, Float32Array>;

export interface AggregateResult {
  /** Global prototype per class that at least one client uploaded. */
  prototypes: Map<number, Float32Array>;
  /** Per class: number of clients that uploaded it. */
  contributors: Int32Array;
}

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new TinyProtoError('E_CONFIG', `${name} must be a positive integer, got ${v}`, { [name]: v });
  }
}

/** Validates every upload entry (class id, length, finiteness) and sums per class in float64. */
function sumUploads(
  uploads: readonly ClassUpload[],
  K: number,
  len: number,
): { sums: (Float64Array | undefined)[]; contributors: Int32Array } {
  const sums: (Float64Array | undefined)[] = new Array<Float64Array | undefined>(K);
  const contributors = new Int32Array(K);
  uploads.forEach((upload, client) => {
    for (const [j, v] of upload) {
      if (!Number.isInteger(j) || j < 0 || j >= K) {
        throw new TinyProtoError('E_SHAPE', `upload ${client} has class id ${j}, expected an integer in [0, ${K})`, {
          client,
          classId: j,
          K,
        });
      }
      if (v.length !== len) {
        throw new TinyProtoError(
          'E_SHAPE',
          `upload ${client} class ${j} has ${v.length} values, expected ${len}`,
          { client, classId: j, got: v.length, expected: len },
        );
      }
      let acc = sums[j];
      if (acc === undefined) {
        acc = new Float64Array(len);
        sums[j] = acc;
      }
      for (let t = 0; t < len; t++) {
        const x = v[t]!;
        if (!Number.isFinite(x)) {
          throw new TinyProtoError('E_NON_FINITE', `upload ${client} class ${j} has a non-finite value at ${t}`, {
            client,
            classId: j,
            index: t,
          });
        }
        acc[t] = acc[t]! + x;
      }
      contributors[j] = contributors[j]! + 1;
    }
  });
  return { sums, contributors };
}

function finish(sums: (Float64Array | undefined)[], scaleFor: (j: number) => number): Map<number, Float32Array> {
  const out = new Map<number, Float32Array>();
  for (let j = 0; j < sums.length; j++) {
    const acc = sums[j];
    if (acc === undefined) continue;
    const scale = scaleFor(j);
    const v = new Float32Array(acc.length);
    for (let t = 0; t < acc.length; t++) {
      v[t] = acc[t]! * scale;
      if (!Number.isFinite(v[t]!)) {
        throw new TinyProtoError('E_NON_FINITE', `global prototype of class ${j} overflows at ${t}`, {
          classId: j,
          index: t,
        });
      }
    }
    out.set(j, v);
  }
  return out;
}

/**
 * TinyProto aggregation: P_j = mu * sum_i (n_ij p_ij) over the clients that uploaded class j.
 * Every upload vector must have exactly s values (E_SHAPE), be finite (E_NON_FINITE), and use
 * a class id in [0, K) (E_SHAPE).
 */
export function aggregateScaled(uploads: readonly ClassUpload[], mu: number, K: number, s: number): AggregateResult {
  if (!(mu > 0) || !Number.isFinite(mu)) {
    throw new TinyProtoError('E_CONFIG', `mu must be a finite number > 0, got ${mu}`, { mu });
  }
  checkPositiveInt('K', K);
  checkPositiveInt('s', s);
  const { sums, contributors } = sumUploads(uploads, K, s);
  return { prototypes: finish(sums, () => mu), contributors };
}

/** FedProto aggregation: unweighted mean over the clients that uploaded class j (d values each). */
export function aggregateMean(uploads: readonly ClassUpload[], K: number, d: number): AggregateResult {
  checkPositiveInt('K', K);
  checkPositiveInt('d', d);
  const { sums, contributors } = sumUploads(uploads, K, d);
  return { prototypes: finish(sums, (j) => 1 / contributors[j]!), contributors };
}

/** The factor of the automatic mu (the paper's values are about 0.65 / samples per class). */
export const DEFAULT_MU_FACTOR = 0.65;

/**
 * Automatic mu (beyond the paper, which tunes mu per data set): the paper's values are close
 * to 0.65 / (training samples per class across all clients), e.g. CIFAR-10 with 45,000
 * training samples (75% of 60,000) gives 0.65 * 10 / 45,000 = 1.44e-4 (paper: 1.5e-4), and
 * CIFAR-100 gives 1.44e-3 (paper: 1.5e-3). This rule of thumb only needs public quantities:
 * the total training-set size and K; the server still never learns per-client counts.
 *
 *   mu = factor * K / totalTrainSamples
 */
export function muFromTotals(totalTrainSamples: number, numClasses: number, factor = DEFAULT_MU_FACTOR): number {
  if (!(totalTrainSamples > 0) || !Number.isFinite(totalTrainSamples)) {
    throw new TinyProtoError('E_CONFIG', `totalTrainSamples must be > 0, got ${totalTrainSamples}`, {
      totalTrainSamples,
    });
  }
  checkPositiveInt('numClasses', numClasses);
  if (!(factor > 0) || !Number.isFinite(factor)) {
    throw new TinyProtoError('E_CONFIG', `mu factor must be > 0, got ${factor}`, { factor });
  }
  return (factor * numClasses) / totalTrainSamples;
}
