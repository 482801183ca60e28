/**
 * Closing a round, pure: the round's running sums (uploads clipped by method/robust.ts as they
 * were accepted) -> the new global prototypes (method/global.ts) -> the GLOBAL message that
 * carries them. `closeGlobal` from stored frames is the recovery / reference path: it decodes
 * every frame into fresh sums, exactly as the aggregator does at intake.
 */
import { encodeGlobal, decodeUpload } from '../wire/codec.ts';
import type { ClassMasks } from '../wire/masks.ts';
import type { Layout } from '../wire/codec-types.ts';
import { dropStalePrototypes, updateGlobalFromSums } from '../method/global.ts';
import { clipUpload } from '../method/robust.ts';
import { RunningSums, type UploadEntries } from '../method/running-sum.ts';
import type { ExperimentConfig } from './config.ts';
import { uploadBoundMu } from './train-samples.ts';

export interface CloseContext {
  readonly config: ExperimentConfig;
  readonly sender: string;
  readonly round: number;
  readonly masks: ClassMasks | null;
  /** Summing: the round's intake mu (uploads are clipped with it); closing: the round's mu. */
  readonly mu: number | null;
  readonly valuesPerClass: number;
  readonly layout: Layout;
}

export interface ClosedGlobal {
  /** The global prototypes after this round (the previous ones when nothing was uploaded). */
  readonly prototypes: Map<number, Float32Array>;
  /** The GLOBAL message, or null when no class has a global prototype yet. */
  readonly bytes: Uint8Array | null;
  readonly classes: number;
  /** Rounds in a row without a contributor, per class, after this round (method/global.ts dropStalePrototypes). */
  readonly ages: Int32Array;
}

type SumContext = Pick<CloseContext, 'config' | 'mu' | 'valuesPerClass'>;

/** Empty sums for a round of this experiment. */
export function emptySums(ctx: SumContext): RunningSums {
  return new RunningSums(ctx.config.numClasses, ctx.valuesPerClass);
}

/** Adds one accepted upload (its decoded prototypes), norm-clipped as method/robust.ts says. */
export function addUpload(ctx: SumContext, sums: RunningSums, prototypes: UploadEntries, who: string): void {
  const m = prototypes instanceof Map ? prototypes : new Map((prototypes as ReadonlyArray<{ classId: number; values: Float32Array }>).map((p) => [p.classId, p.values]));
  sums.add(clipUpload(m as Map<number, Float32Array>, { method: ctx.config.method, mu: ctx.mu }).upload, who);
}

/**
 * Decodes stored upload frames of the round into sums (recovery after a restart), each clipped
 * with the mu intake used for it (the round's intake mu, or its own count's: train-samples.ts).
 */
export function sumsFromFrames(ctx: CloseContext, uploadFrames: readonly Uint8Array[]): RunningSums {
  const c = ctx.config;
  const sums = emptySums(ctx);
  uploadFrames.forEach((bytes, i) => {
    const m = decodeUpload(bytes, { experiment: c.experiment, round: ctx.round, K: c.numClasses, d: c.featureDim, s: ctx.valuesPerClass });
    addUpload({ ...ctx, mu: uploadBoundMu(c, ctx.mu, m.body.trainSamples ?? null, m.header.sender) }, sums, m.body.prototypes, String(i));
  });
  return sums;
}

/**
 * The round's result from its running sums: O(K * s), independent of the number of uploads.
 * `ages` (absent: none yet) counts, per class, the rounds in a row without a contributor; with
 * `staleRounds` > 0 a class that reaches it loses its global prototype (ExperimentSetup.staleRounds),
 * as in the simulation. A round without uploads ages nothing, as a simulated round without any.
 */
export function closeFromSums(ctx: CloseContext, sums: RunningSums, previous: Map<number, Float32Array>, ages: Int32Array = new Int32Array(ctx.config.numClasses)): ClosedGlobal {
  const c = ctx.config;
  const update = updateGlobalFromSums({ method: c.method, numClasses: c.numClasses, featureDim: c.featureDim, masks: ctx.masks, mu: ctx.mu }, sums, previous);
  if (!update) return { prototypes: previous, bytes: null, classes: 0, ages };
  const kept = sums.count > 0 ? dropStalePrototypes(update.prototypes, update.contributors, ages, c.staleRounds) : { prototypes: update.prototypes, ages };
  const bytes = encodeGlobal(
    { experiment: c.experiment, sender: ctx.sender, round: ctx.round },
    {
      K: c.numClasses,
      d: c.featureDim,
      s: ctx.valuesPerClass,
      layout: ctx.layout,
      valueType: c.valueType,
      prototypes: [...kept.prototypes].sort((a, b) => a[0] - b[0]).map(([classId, values]) => ({ classId, values, contributors: update.contributors[classId] ?? 0 })),
    },
  );
  return { prototypes: kept.prototypes, bytes, classes: kept.prototypes.size, ages: kept.ages };
}

/** The round's result from its stored upload frames (decodes each; recovery and reference). */
export function closeGlobal(ctx: CloseContext, uploadFrames: readonly Uint8Array[], previous: Map<number, Float32Array>, ages?: Int32Array): ClosedGlobal {
  return closeFromSums(ctx, sumsFromFrames(ctx, uploadFrames), previous, ages);
}
