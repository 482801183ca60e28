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
import { RunningSums, type AggregateResult } from './running-sum.ts';

// expanding global prototypes is shared with the agents; re-exported for the server's callers
export { expandGlobalPrototypes, type ExpandedGlobals };

export type ClassUpload = Map<number, Float32Array>;

/**
 * TinyProto's server rule: 'scaled' = adaptive prototype scaling (the paper: clients upload
 * n_ij * p_ij under the mask, the server takes mu * the sum); 'mean' = without it (clients upload
 * p_ij under the mask, the server takes FedProto's unweighted mean over the clients holding j).
 */
export type PrototypeAggregation = 'scaled' | 'mean';
export const PROTOTYPE_AGGREGATIONS: readonly PrototypeAggregation[] = Object.freeze(['scaled', 'mean']);

export type { AggregateResult };

function checkPositiveInt(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) {
    throw new TinyProtoError('E_CONFIG', `${name} must be a positive integer, got ${v}`, { [name]: v });
  }
}

/** Validates every upload entry (class id, length, finiteness) and sums per class in float64. */
function sumUploads(uploads: readonly ClassUpload[], K: number, len: number): RunningSums {
  const sums = new RunningSums(K, len);
  uploads.forEach((upload, client) => sums.add(upload, client));
  return sums;
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
  return sumUploads(uploads, K, s).scaled(mu);
}

/** FedProto aggregation: unweighted mean over the clients that uploaded class j (d values each). */
export function aggregateMean(uploads: readonly ClassUpload[], K: number, d: number): AggregateResult {
  checkPositiveInt('K', K);
  checkPositiveInt('d', d);
  return sumUploads(uploads, K, d).mean();
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
