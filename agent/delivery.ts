/**
 * What the agent has to deliver, and delivering it: the upload outbox and the telemetry not yet
 * sent, both kept in the agent store and published (QoS 1) in order, oldest first. What the
 * broker does not acknowledge stays in the store for the next (re)connection; an upload is
 * marked acknowledged only after the broker acknowledged it.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { encodeTelemetry, telemetryParts } from '../wire/codec.ts';
import type { AgentTransport } from './agent-types.ts';
import type { AgentStore } from './store.ts';

/** An upload the broker acknowledged (the agent emits it as 'uploaded'). */
export interface Uploaded {
  round: number;
  bytes: number;
  attempts: number;
}

export class Delivery {
  constructor(
    private readonly experiment: string,
    private readonly store: AgentStore,
    private readonly transport: AgentTransport,
    private readonly logger: Logger,
    private readonly onUploaded: (u: Uploaded) => void,
  ) {}

  /** Whether the upload of `round` is queued and not yet acknowledged. */
  uploadPending(round: number): boolean {
    return this.store.uploadState(this.experiment, round) === 'pending';
  }

  /** Publishes every upload not yet acknowledged, oldest first; stops at the first failure. */
  async flushOutbox(): Promise<void> {
    const experiment = this.experiment;
    for (const p of this.store.pendingUploads(experiment)) {
      this.store.markAttempt(experiment, p.round);
      try {
        await this.transport.publish('upload', p.bytes, false);
      } catch (e) {
        this.logger.warn('upload not acknowledged; kept in the outbox', { round: p.round, error: (e as Error).message });
        return;
      }
      this.store.markAcked(experiment, p.round);
      this.onUploaded({ round: p.round, bytes: p.bytes.length, attempts: p.attempts + 1 });
    }
  }

  /** Publishes telemetry not yet sent (QoS 1); what fails stays pending for the next connection. */
  async flushTelemetry(): Promise<void> {
    const experiment = this.experiment;
    for (const rec of this.store.pendingTelemetry(experiment)) {
      try {
        const { header, body } = telemetryParts(rec);
        await this.transport.publish('telemetry', encodeTelemetry(header, body), false);
      } catch (e) {
        if (e instanceof TinyProtoError && e.code.startsWith('E_CODEC')) {
          this.logger.error('telemetry record not encodable; kept in the store only', { round: rec.round, code: e.code, error: e.message });
          this.store.markTelemetrySent(experiment, rec.round);
          continue;
        }
        this.logger.debug('telemetry not sent yet', { round: rec.round, error: (e as Error).message });
        return;
      }
      this.store.markTelemetrySent(experiment, rec.round);
    }
  }
}
