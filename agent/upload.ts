import { encodeUpload } from '../wire/codec.ts';
import type { RoundBody } from '../wire/codec-types.ts';
import type { ClassMasks } from '../wire/masks.ts';

/**
 * The UPLOAD of a round: sparse under the class masks (TinyProto) or dense (FedProto), in the
 * announced value type, with the agent's training-sample count (what the aggregator's mu needs;
 * one number, never per class; null for an empty shard, which has nothing to report).
 */
export function encodeRoundUpload(
  h: { experiment: string; agent: string; round: number; numClasses: number; featureDim: number; masks: ClassMasks | null; trainSamples: number | null },
  body: RoundBody,
  prototypes: ReadonlyMap<number, Float32Array>,
): Uint8Array {
  const sparse = body.method === 'tinyproto';
  return encodeUpload(
    { experiment: h.experiment, sender: h.agent, round: h.round },
    {
      K: h.numClasses,
      d: h.featureDim,
      s: sparse ? h.masks!.s : h.featureDim,
      layout: sparse ? 'sparse' : 'dense',
      valueType: body.valueType,
      prototypes: [...prototypes].sort((a, b) => a[0] - b[0]).map(([classId, values]) => ({ classId, values })),
      trainSamples: h.trainSamples,
    },
  );
}
