/**
 * The aggregator's boundary for uploads: everything about one UPLOAD is checked before it can have
 * any effect (size, frame, CRC, experiment, round, K/d/s, sender = topic, selection, layout and
 * value type), and the RECEIPT that answers it is built here. No transport; the store is only
 * read, to tell a resend of something it holds (`heldAlready`).
 */
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { decodeUpload, encodeReceipt, payloadCrc, peekHeader } from '../wire/codec.ts';
import { MessageType, RECEIPT_CODE_PATTERN, type DecodedUpload, type Layout, type ReceiptOutcome } from '../wire/codec-types.ts';
import { checkUploadValues } from '../method/robust.ts';
import type { ExperimentConfig } from './config.ts';
import type { AggregatorStore } from './store.ts';
import { uploadBoundMu, type ReportedSamples } from './train-samples.ts';

export interface IntakeContext {
  readonly config: ExperimentConfig;
  readonly round: number;
  /** The round's intake mu (aggregator/train-samples.ts); null before any is known. */
  readonly mu: number | null;
  /** The counts agents reported so far: an upload's must equal its agent's earlier one (absent: not checked). */
  readonly reported?: Pick<ReportedSamples, 'check' | 'checkRelay'>;
  readonly valuesPerClass: number;
  readonly layout: Layout;
  readonly selected: ReadonlySet<string>;
}

/**
 * Decodes and validates an upload for the open round, values included (finite, within the bound
 * of method/robust.ts), and its training-sample count (the same as the agent's earlier one,
 * E_TRAIN_SAMPLES); throws a TinyProtoError with a code.
 */
export function admitUpload(ctx: IntakeContext, agent: string, bytes: Uint8Array): DecodedUpload {
  const c = ctx.config;
  const up = decodeUpload(bytes, {
    experiment: c.experiment,
    round: ctx.round,
    K: c.numClasses,
    d: c.featureDim,
    s: ctx.valuesPerClass,
    type: MessageType.Upload,
  });
  checkSender(up.header.sender, agent);
  const round = ctx.round;
  if (!ctx.selected.has(agent)) throw new TinyProtoError('E_NOT_SELECTED', `agent "${agent}" was not selected for round ${round}`);
  if (up.body.layout !== ctx.layout || up.body.valueType !== c.valueType) {
    throw new TinyProtoError('E_UPLOAD_FORMAT', `upload of round ${round} is ${up.body.layout}/${up.body.valueType}; this experiment takes ${ctx.layout}/${c.valueType}`);
  }
  const n = up.body.trainSamples ?? null;
  ctx.reported?.check(agent, n);
  checkUploadValues(up.body.prototypes, { method: c.method, mu: uploadBoundMu(c, ctx.mu, n, agent) }, `upload from "${agent}"`);
  return up;
}

export function checkSender(sender: string, agent: string): void {
  if (sender !== agent) throw new TinyProtoError('E_SENDER', `message on agent "${agent}"'s topic says it is from "${sender}"`);
}

/** The round and payload CRC (what a RECEIPT names) of an upload (or PARTIAL) whose frame is intact; null when even the frame is not. */
export function uploadIdentity(bytes: Uint8Array, experiment: string, type: MessageType = MessageType.Upload): { round: number; crc: number; sender: string } | null {
  try {
    const h = peekHeader(bytes, { experiment, type });
    return { round: h.round, crc: payloadCrc(bytes, h), sender: h.sender };
  } catch {
    return null;
  }
}

/** The RECEIPT for an upload: what the agent needs to settle its outbox entry. */
export function receiptFor(experiment: string, sender: string, agent: string, id: { round: number; crc: number }, outcome: ReceiptOutcome, error?: unknown): Uint8Array {
  let code = '';
  if (outcome === 'rejected') {
    code = errorCode(error);
    if (!RECEIPT_CODE_PATTERN.test(code)) code = 'E_INTERNAL';
  }
  return encodeReceipt({ experiment, sender, round: id.round }, { agent, outcome, uploadCrc: id.crc, code });
}

/**
 * Whether a refused upload is one the store already holds (a resend after a lost receipt, also
 * of a round that has closed since): its receipt then says duplicate, and the agent is done.
 */
export function heldAlready(store: Pick<AggregatorStore, 'hasUpload'>, experiment: string, currentRound: number, agent: string, round: number, e: unknown): boolean {
  const code = errorCode(e);
  if (code === 'E_DUPLICATE') return true;
  if (code !== 'E_ROUND' || round > currentRound) return false;
  return store.hasUpload(experiment, round, agent);
}
