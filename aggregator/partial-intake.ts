/**
 * The coordinator's boundary for PARTIALs (wire/codec-partial.ts): a relay's sums of one round
 * are checked completely before they can count (frame, experiment, round, K/d/s, sender = topic =
 * a configured relay, layout, every named agent known, selected and not counted yet this round,
 * sums within what clipped uploads can add up to, its summed training-sample counts consistent
 * with the relay's earlier ones), then turned into RunningSums to merge.
 * Pure: no store, no transport.
 */
import { TinyProtoError } from '../common/errors.ts';
import { decodePartial } from '../wire/codec.ts';
import type { DecodedPartial } from '../wire/codec-types.ts';
import { uploadNormBound } from '../method/robust.ts';
import { RunningSums } from '../method/running-sum.ts';
import { checkSender, type IntakeContext } from './intake.ts';
import { partialBoundMu } from './train-samples.ts';

/** An upload's context (aggregator/intake.ts), plus: */
export interface PartialContext extends IntakeContext {
  /** Agents already counted this round (direct uploads and earlier partials). */
  readonly counted: ReadonlySet<string>;
  readonly relays: ReadonlySet<string>;
}

export interface AdmittedPartial {
  readonly partial: DecodedPartial;
  readonly sums: RunningSums;
}

/** Decodes and validates a relay's PARTIAL for the open round; throws a TinyProtoError with a code. */
export function admitPartial(ctx: PartialContext, relay: string, bytes: Uint8Array): AdmittedPartial {
  const c = ctx.config;
  if (!ctx.relays.has(relay)) throw new TinyProtoError('E_UNKNOWN_RELAY', `"${relay}" is not a relay of experiment "${c.experiment}" (the coordinator takes partial sums only from --relays)`);
  const p = decodePartial(bytes, { experiment: c.experiment, round: ctx.round, K: c.numClasses, d: c.featureDim, s: ctx.valuesPerClass });
  checkSender(p.header.sender, relay);
  const round = ctx.round;
  if (p.body.layout !== ctx.layout) throw new TinyProtoError('E_UPLOAD_FORMAT', `partial of round ${round} from "${relay}" is ${p.body.layout}; this experiment takes ${ctx.layout}`);
  const known = new Set(c.agents);
  for (const a of p.body.agents) {
    if (!known.has(a)) throw new TinyProtoError('E_UNKNOWN_AGENT', `partial from "${relay}" names agent "${a}", which is not part of experiment "${c.experiment}"`);
    if (!ctx.selected.has(a)) throw new TinyProtoError('E_NOT_SELECTED', `partial from "${relay}" names agent "${a}", which was not selected for round ${round}`);
    if (ctx.counted.has(a)) throw new TinyProtoError('E_PARTIAL_OVERLAP', `partial from "${relay}" for round ${round} names agent "${a}", whose upload this round is already counted`, { relay, agent: a, round });
  }
  // the relay's agents' counts must agree with what it reported before (E_TRAIN_SAMPLES)
  const counts = p.body.trainSamples ?? null;
  ctx.reported?.checkRelay(relay, counts);
  // every upload was clipped to this L2 norm per class before the relay summed it
  const bound = uploadNormBound({ method: c.method, mu: partialBoundMu(c, ctx.mu, counts, relay) });
  for (const k of p.body.classes) {
    let sq = 0;
    for (let t = 0; t < k.sums.length; t++) sq += k.sums[t]! * k.sums[t]!;
    if (Math.sqrt(sq) > k.contributors * bound * (1 + 1e-9)) {
      throw new TinyProtoError('E_VALUE_BOUND', `partial from "${relay}" class ${k.classId}: sum norm ${Math.sqrt(sq)} exceeds ${k.contributors} x the clipped upload norm ${bound}`);
    }
  }
  return { partial: p, sums: RunningSums.fromParts(c.numClasses, ctx.valuesPerClass, p.body.agents.length, p.body.classes) };
}
