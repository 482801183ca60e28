/**
 * Closing a round, pure: the round's uploads (clipped, method/robust.ts) -> the new global
 * prototypes (method/global.ts) -> the GLOBAL message that carries them.
 */
import { encodeGlobal, decodeUpload } from '../wire/codec.ts';
import type { ClassMasks } from '../wire/masks.ts';
import type { Layout } from '../wire/codec-types.ts';
import { updateGlobalPrototypes } from '../method/global.ts';
import { clipUpload } from '../method/robust.ts';
import type { ExperimentConfig } from './config.ts';

export interface CloseContext {
  readonly config: ExperimentConfig;
  readonly sender: string;
  readonly round: number;
  readonly masks: ClassMasks | null;
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
}

export function closeGlobal(ctx: CloseContext, uploadFrames: readonly Uint8Array[], previous: Map<number, Float32Array>): ClosedGlobal {
  const c = ctx.config;
  const s = ctx.valuesPerClass;
  const uploads = uploadFrames.map((bytes) => {
    const m = decodeUpload(bytes, { experiment: c.experiment, round: ctx.round, K: c.numClasses, d: c.featureDim, s });
    return clipUpload(new Map(m.body.prototypes.map((p) => [p.classId, p.values])), { method: c.method, mu: ctx.mu }).upload;
  });
  const update = updateGlobalPrototypes({ method: c.method, numClasses: c.numClasses, featureDim: c.featureDim, masks: ctx.masks, mu: ctx.mu }, uploads, previous);
  if (!update) return { prototypes: previous, bytes: null, classes: 0 };
  const bytes = encodeGlobal(
    { experiment: c.experiment, sender: ctx.sender, round: ctx.round },
    {
      K: c.numClasses,
      d: c.featureDim,
      s,
      layout: ctx.layout,
      valueType: c.valueType,
      prototypes: [...update.prototypes].sort((a, b) => a[0] - b[0]).map(([classId, values]) => ({ classId, values, contributors: update.contributors[classId] ?? 0 })),
    },
  );
  return { prototypes: update.prototypes, bytes, classes: update.prototypes.size };
}
