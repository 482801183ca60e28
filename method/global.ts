/**
 * One round's update of the global prototypes, for every method: pure, shared by the
 * simulation and the MQTT aggregator so both compute exactly the same thing.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { ClassMasks } from '../wire/masks.ts';
import type { Method } from './method.ts';
import { aggregateMean, aggregateScaled, expandGlobalPrototypes, type ClassUpload, type PrototypeAggregation } from './aggregate.ts';
import type { AggregateResult, RunningSums } from './running-sum.ts';

export interface GlobalContext {
  readonly method: Method;
  readonly numClasses: number;
  readonly featureDim: number;
  /** TinyProto only. */
  readonly masks: ClassMasks | null;
  /** TinyProto only: P_j = mu * sum_i n_ij p_ij. */
  readonly mu: number | null;
  /** TinyProto only: 'scaled' (absent: the paper's adaptive scaling) or 'mean' (without it: method/aggregate.ts). */
  readonly aggregation?: PrototypeAggregation;
}

export interface GlobalUpdate {
  /** Per class: the values sent to clients (s under the mask for TinyProto, d for FedProto). */
  readonly prototypes: Map<number, Float32Array>;
  /** Per class: how many clients contributed this round (0: kept from an earlier round). */
  readonly contributors: Int32Array;
  /** K*d expanded (zeros off the mask) and the classes that have a prototype. */
  readonly expanded: { prototypes: Float32Array; hasGlobal: Uint8Array };
}

/**
 * Aggregates this round's uploads. A class that no client uploaded this round keeps its
 * previous global prototype. Returns null for Local (no communication).
 */
export function updateGlobalPrototypes(
  ctx: GlobalContext,
  uploads: readonly ClassUpload[],
  previous: ReadonlyMap<number, Float32Array>,
): GlobalUpdate | null {
  const K = ctx.numClasses;
  const d = ctx.featureDim;
  let agg;
  if (ctx.method === 'tinyproto') {
    if (ctx.masks === null || ctx.mu === null) {
      throw new TinyProtoError('E_CONFIG', 'tinyproto aggregation needs masks and mu', { masks: ctx.masks !== null, mu: ctx.mu });
    }
    agg = ctx.aggregation === 'mean' ? aggregateMean(uploads, K, ctx.masks.s) : aggregateScaled(uploads, ctx.mu, K, ctx.masks.s);
  } else if (ctx.method === 'fedproto') {
    agg = aggregateMean(uploads, K, d);
  } else {
    return null;
  }
  return withPrevious(ctx, agg, previous);
}

/**
 * The same update from a round's running sums (uploads already checked and clipped as they were
 * added): O(K * len), however many uploads the round had. Returns null for Local.
 */
export function updateGlobalFromSums(ctx: GlobalContext, sums: RunningSums, previous: ReadonlyMap<number, Float32Array>): GlobalUpdate | null {
  let agg;
  if (ctx.method === 'tinyproto') {
    if (ctx.masks === null || ctx.mu === null || !(ctx.mu > 0) || !Number.isFinite(ctx.mu)) {
      throw new TinyProtoError('E_CONFIG', 'tinyproto aggregation needs masks and mu > 0', { masks: ctx.masks !== null, mu: ctx.mu });
    }
    if (sums.len !== ctx.masks.s || sums.K !== ctx.numClasses) throw new TinyProtoError('E_SHAPE', `running sums are K = ${sums.K} x ${sums.len}, expected K = ${ctx.numClasses} x s = ${ctx.masks.s}`);
    agg = ctx.aggregation === 'mean' ? sums.mean() : sums.scaled(ctx.mu);
  } else if (ctx.method === 'fedproto') {
    if (sums.len !== ctx.featureDim || sums.K !== ctx.numClasses) throw new TinyProtoError('E_SHAPE', `running sums are K = ${sums.K} x ${sums.len}, expected K = ${ctx.numClasses} x d = ${ctx.featureDim}`);
    agg = sums.mean();
  } else {
    return null;
  }
  return withPrevious(ctx, agg, previous);
}

function withPrevious(ctx: GlobalContext, agg: AggregateResult, previous: ReadonlyMap<number, Float32Array>): GlobalUpdate {
  const prototypes = new Map([...previous, ...agg.prototypes]);
  return {
    prototypes,
    contributors: agg.contributors,
    expanded: expandGlobalPrototypes(prototypes, ctx.method === 'tinyproto' ? ctx.masks : null, ctx.numClasses, ctx.featureDim),
  };
}

/**
 * Unreached classes (ExperimentSetup.staleRounds): `ages[j]` counts the rounds in a row that
 * class j had no contributor (reset to 0 by one); with `staleRounds` > 0 a class whose age
 * reaches it loses its global prototype, and stays without one until a client uploads it again.
 * 0 keeps every prototype for ever (the paper's aggregation). Returns the prototypes to send and
 * the new ages; the inputs are untouched.
 */
export function dropStalePrototypes(
  prototypes: ReadonlyMap<number, Float32Array>,
  contributors: Int32Array,
  ages: Int32Array,
  staleRounds: number,
): { prototypes: Map<number, Float32Array>; ages: Int32Array } {
  const next = Int32Array.from(ages, (a, j) => ((contributors[j] ?? 0) > 0 ? 0 : a + 1));
  const out = new Map(prototypes);
  if (staleRounds > 0) for (const j of [...out.keys()]) if ((next[j] ?? 0) >= staleRounds) out.delete(j);
  return { prototypes: out, ages: next };
}
