/**
 * What the agent has to deliver, and delivering it: the upload outbox and the telemetry not yet
 * sent, both kept in the agent store and published (QoS 1) in order, oldest first.
 *
 * An upload is delivered when the aggregator has committed it, not when the broker acknowledged
 * it: it stays in the outbox until the aggregator's RECEIPT for that round and frame CRC arrives
 * (accepted or duplicate: delivered; rejected: settled with the code, never resent). Until then
 * it is published again
 * - on every new connection, unless the broker acknowledged it after the last connection was
 *   lost (MQTT.js itself resends what was in flight when a connection dropped);
 * - when its round is announced again (an aggregator restart) or closes without a receipt;
 * - on a timer, `resendAfterMs` after the last acknowledged send, doubling per attempt up to
 *   `resendMaxMs`, with +-25% jitter so a fleet does not resend in step.
 * The aggregator answers a resend of what it holds with a duplicate receipt, so resending is safe.
 */
import { TinyProtoError, errorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { decodeReceipt, encodeTelemetry, telemetryParts, uploadPayloadCrc } from '../wire/codec.ts';
import type { ReceiptOutcome } from '../wire/codec-types.ts';
import type { AgentTransport } from './agent-types.ts';
import type { AgentStore, PendingUpload } from './store.ts';

/** An upload the broker acknowledged for the first time (the agent emits it as 'uploaded'). */
export interface Uploaded {
  round: number;
  bytes: number;
  attempts: number;
}

/** An upload the aggregator's receipt settled (the agent emits it as 'delivered'). */
export interface Delivered extends Uploaded {
  outcome: ReceiptOutcome;
  /** The rejection's code ('' unless rejected). */
  code: string;
}

export interface DeliveryOptions {
  readonly experiment: string;
  readonly agent: string;
  readonly store: AgentStore;
  readonly transport: AgentTransport;
  readonly logger: Logger;
  readonly onUploaded: (u: Uploaded) => void;
  readonly onDelivered: (u: Delivered) => void;
  /** First resend this long after an acknowledged send without a receipt (default 20 s). */
  readonly resendAfterMs?: number;
  /** Resend interval cap (default 5 min). */
  readonly resendMaxMs?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

interface Sent {
  /** Connection epoch on which the broker acknowledged the last send. */
  epoch: number;
  at: number;
  sends: number;
}


export class Delivery {
  private epoch = 0;
  private sawDisconnect = false;
  private everConnected = false;
  private readonly sent = new Map<number, Sent>();
  /** Rounds whose upload the broker has acknowledged at least once (for the 'uploaded' event). */
  private readonly brokerAcked = new Set<number>();
  private timer: NodeJS.Timeout | null = null;
  private closed = false;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly resendAfterMs: number;
  private readonly resendMaxMs: number;
  /** Set by the agent: how a timer-driven resend gets into its serial queue. */
  schedule: (task: () => Promise<void>) => void = (task) => void task();

  constructor(private readonly o: DeliveryOptions) {
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.resendAfterMs = o.resendAfterMs ?? 20_000;
    this.resendMaxMs = o.resendMaxMs ?? 300_000;
  }

  /**
   * Connection epochs: a new one starts when a connection is lost (what the broker acknowledges
   * from then on, MQTT.js's own resends included, was acknowledged on the new connection).
   * Transports that cannot report a loss start one at each (re)connection instead.
   */
  disconnected(): void {
    this.epoch++;
    this.sawDisconnect = true;
  }

  /** Call synchronously on every (re)connection, before the flush it triggers is queued. */
  connected(): void {
    if (!this.sawDisconnect && this.everConnected) this.epoch++;
    this.sawDisconnect = false;
    this.everConnected = true;
  }

  /** Whether the upload of `round` is queued and not yet settled by a receipt. */
  uploadPending(round: number): boolean {
    return this.o.store.uploadState(this.o.experiment, round) === 'pending';
  }

  private due(p: PendingUpload): boolean {
    const s = this.sent.get(p.round);
    if (s === undefined || s.epoch !== this.epoch) return true;
    return this.now() - s.at >= this.interval(s.sends);
  }

  private interval(sends: number): number {
    return Math.min(this.resendMaxMs, this.resendAfterMs * 2 ** Math.max(0, sends - 1));
  }

  /**
   * Publishes every unsettled upload that is due, oldest first; stops at the first failure.
   * `resendRound` makes that round's upload due now (its round was announced again or closed).
   */
  async flushOutbox(resendRound?: number): Promise<void> {
    const { experiment, store, transport, logger } = this.o;
    if (resendRound !== undefined) this.sent.delete(resendRound);
    const pending = store.pendingUploads(experiment);
    for (const p of pending) {
      if (!this.due(p)) continue;
      store.markAttempt(experiment, p.round);
      try {
        await transport.publish('upload', p.bytes, false);
      } catch (e) {
        logger.warn('upload not delivered to the broker; kept in the outbox', { round: p.round, code: errorCode(e), error: (e as Error).message });
        this.arm(pending);
        return;
      }
      const prev = this.sent.get(p.round);
      this.sent.set(p.round, { epoch: this.epoch, at: this.now(), sends: (prev?.sends ?? 0) + 1 });
      if (!this.brokerAcked.has(p.round)) {
        this.brokerAcked.add(p.round);
        this.o.onUploaded({ round: p.round, bytes: p.bytes.length, attempts: p.attempts + 1 });
      }
    }
    this.arm(pending);
  }

  /** Settles the outbox entry a RECEIPT names (a receipt for another upload or agent is ignored). */
  onReceipt(bytes: Uint8Array): void {
    const { experiment, store, logger } = this.o;
    const m = decodeReceipt(bytes, { experiment });
    const round = m.header.round;
    if (m.body.agent !== this.o.agent) throw new TinyProtoError('E_SENDER', `receipt for "${m.body.agent}" on agent "${this.o.agent}"'s topic`);
    const p = store.pendingUploads(experiment).find((u) => u.round === round);
    if (p === undefined) return; // settled already, or a retained receipt of an upload no longer held
    if (uploadPayloadCrc(p.bytes) !== m.body.uploadCrc) {
      logger.debug('receipt names another upload of this round; ignored', { round });
      return;
    }
    store.markAcked(experiment, round, m.body.outcome, m.body.code || null);
    this.sent.delete(round);
    if (m.body.outcome === 'rejected') logger.warn('the aggregator rejected the upload; it will not be resent', { round, code: m.body.code });
    this.o.onDelivered({ round, bytes: p.bytes.length, attempts: p.attempts, outcome: m.body.outcome, code: m.body.code });
    this.arm();
  }

  /** A resend check at the earliest time an unsettled upload (of `pending`, read from the store when absent) becomes due. */
  private arm(pending: readonly PendingUpload[] = this.o.store.pendingUploads(this.o.experiment)): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.closed) return;
    let next = Infinity;
    for (const p of pending) {
      const s = this.sent.get(p.round);
      if (s === undefined) continue; // sent at the next connection or flush
      next = Math.min(next, s.at + this.interval(s.sends));
    }
    if (next === Infinity) return;
    const delay = Math.max(0, next - this.now()) * (0.75 + 0.5 * this.random());
    this.timer = setTimeout(() => {
      this.timer = null;
      this.schedule(() => this.flushOutbox());
    }, delay);
  }

  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  /** Publishes telemetry not yet sent (QoS 1); what fails stays pending for the next connection. */
  async flushTelemetry(): Promise<void> {
    const { experiment, store, transport, logger } = this.o;
    for (const rec of store.pendingTelemetry(experiment)) {
      try {
        const { header, body } = telemetryParts(rec);
        await transport.publish('telemetry', encodeTelemetry(header, body), false);
      } catch (e) {
        if (e instanceof TinyProtoError && e.code.startsWith('E_CODEC')) {
          logger.error('telemetry record not encodable; kept in the store only', { round: rec.round, code: e.code, error: e.message });
          store.markTelemetrySent(experiment, rec.round);
          continue;
        }
        logger.debug('telemetry not sent yet', { round: rec.round, error: (e as Error).message });
        return;
      }
      store.markTelemetrySent(experiment, rec.round);
    }
  }
}
