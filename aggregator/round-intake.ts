/**
 * What the aggregator and a relay (relay/relay.ts) share: the intake of one open round. Every
 * agent message is handled here in order (on one serial queue): uploads are validated at the
 * boundary (aggregator/intake.ts), refused duplicates answered as such, and accepted ones,
 * status and telemetry committed in group-commit batches (aggregator/batch.ts); a message is
 * answered (RECEIPT) and acknowledged (PUBACK) only once its batch is durable, and each upload
 * is decoded once and added to the round's float64 sums after its commit. What opens and
 * closes rounds is the subclass's: the aggregator announces them, a relay follows its
 * coordinator's and sends its sums upstream as one PARTIAL.
 */
import { EventEmitter } from 'node:events';
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { SerialQueue } from '../common/serial.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { decodeUpload } from '../wire/codec.ts';
import { experimentMasks } from '../method/experiment.ts';
import type { SenderTopic } from '../wire/topics.ts';
import type { Layout, ReceiptOutcome } from '../wire/codec-types.ts';
import { experimentMu, type ExperimentConfig } from './config.ts';
import { admitUpload, heldAlready, receiptFor, uploadIdentity } from './intake.ts';
import { statusEntry, telemetryEntry } from './experiment-open.ts';
import { addUpload, emptySums, type CloseContext } from './close.ts';
import { PendingBatch, batchWrite, commitPolicy, type Ack, type TakenBatch } from './batch.ts';
import { OfflineAgents } from './offline.ts';
import { ReportedSamples, uploadBoundMu } from './train-samples.ts';
import type { RunningSums } from '../method/running-sum.ts';
import type { AggregatorStore } from './store.ts';
import type { AggregatorOptions, AggregatorTransport, CommitPolicy, UploadAccepted, UploadRejected } from './aggregator-types.ts';

export const NO_ACK: Ack = () => undefined;

export abstract class RoundIntake extends EventEmitter {
  readonly config: ExperimentConfig;
  protected readonly store: AggregatorStore;
  protected readonly transport: AggregatorTransport;
  protected readonly logger: Logger;
  protected readonly now: () => number;
  protected readonly masks: ClassMasks | null;
  /**
   * The open round's intake mu (value bounds, norm clip): the aggregator fixes it when a round
   * opens (aggregator/train-samples.ts); a relay keeps the configured one. Null: not known yet.
   */
  protected mu: number | null;
  /** The training-sample counts the agents' committed uploads reported. */
  protected readonly reported: ReportedSamples;
  /** The mu the last closed round used (null before any). */
  protected lastMu: number | null = null;
  protected round = 0;
  protected selected = new Set<string>();
  /** Agents counted in the open round (their uploads, or a relay's partial naming them). */
  protected accepted = new Set<string>();
  protected readonly offline: OfflineAgents;
  protected readonly queue: SerialQueue;
  protected readonly commit: CommitPolicy;
  protected readonly known: ReadonlySet<string>;
  protected pending = new PendingBatch();
  protected flushArmed = false;
  /** The open round's accepted uploads, summed (clipped) as they were committed. */
  protected sums: RunningSums;
  protected bytesIn = 0;
  protected finished = false;

  constructor(
    opts: AggregatorOptions,
    /** The sender id of what this process publishes (headers of ROUND, GLOBAL, RECEIPT, ...). */
    protected readonly sender: string,
  ) {
    super();
    this.config = opts.config;
    this.store = opts.store;
    this.transport = opts.transport;
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.offline = new OfflineAgents(this.config.offlineGraceMs, this.now);
    const c = this.config;
    this.masks = experimentMasks(c);
    this.mu = experimentMu(c);
    this.reported = new ReportedSamples(c.agents.length);
    this.commit = commitPolicy(opts.commit);
    this.known = new Set(c.agents);
    this.sums = emptySums(this.closeContext());
    this.queue = new SerialQueue((e) => {
      this.logger.error(`${this.sender} task failed`, { error: e instanceof Error ? e.message : String(e), code: errorCode(e) });
      this.emit('failure', e);
    });
  }

  /** A relay's id must not be an agent's: the two share topics and RECEIPTs (E_CONFIG). */
  protected assertRelayId(relay: string): void {
    if (this.known.has(relay)) throw new TinyProtoError('E_CONFIG', `relay id "${relay}" is also an agent id; relays and agents need distinct ids`);
  }

  /** Values per class on the wire: s under the mask (TinyProto) or d (FedProto). */
  get valuesPerClass(): number { return this.masks?.s ?? this.config.featureDim; } // prettier-ignore
  get layout(): Layout { return this.masks ? 'sparse' : 'dense'; } // prettier-ignore
  get currentRound(): number { return this.round; } // prettier-ignore
  get classMasks(): ClassMasks | null { return this.masks; } // prettier-ignore
  /** The mu in use: the last closed round's, else the one known now (null: not yet known). */
  get scale(): number | null { return this.lastMu ?? this.mu; } // prettier-ignore

  /** Notes the counts of the stored uploads of rounds [from, to] (what intake noted before a restart). */
  protected noteStoredUploads(from: number, to: number): void {
    for (let r = from; r <= to; r++) {
      for (const u of this.store.uploadsFor(this.config.experiment, r)) this.reported.note(u.agent, decodeUpload(u.bytes).body.trainSamples ?? null);
    }
  }

  /** Closes the open round now when nothing more is expected. */
  protected abstract closeIfDone(): Promise<void>;

  /** Why uploads are refused now (null: the open round takes them). */
  protected uploadsClosed(): TinyProtoError | null {
    return this.finished ? new TinyProtoError('E_ROUND', `experiment "${this.config.experiment}" has finished; upload ignored`) : null;
  }

  /** A relay's PARTIAL: only a coordinator (the aggregator with --relays) takes them. */
  protected async onPartial(relay: string, _bytes: Uint8Array, ack: Ack): Promise<void> {
    this.reject(null, relay, new TinyProtoError('E_UNKNOWN_RELAY', `"${relay}" is not a relay of experiment "${this.config.experiment}" (this ${this.sender} takes no partial sums)`));
    ack();
  }

  /** Hands every agent message (and relay partial) the transport delivers to the serial queue. */
  protected listen(): void {
    this.transport.onAgentMessage((kind, agent, bytes, ack) => void this.queue.push(() => this.onAgentMessage(kind, agent, bytes, ack ?? NO_ACK)));
  }

  protected async sendReceipt(agent: string, id: { round: number; crc: number }, outcome: ReceiptOutcome, error?: unknown): Promise<void> {
    const c = this.config;
    try {
      await this.transport.publishReceipt(agent, receiptFor(c.experiment, this.sender, agent, id, outcome, error));
    } catch (e) {
      // the upload stays committed; the agent resends and gets a duplicate receipt then
      this.logger.warn('receipt not published', { agent, round: id.round, outcome, error: (e as Error).message });
    }
  }

  protected reject(round: number | null, agent: string | null, e: unknown): void {
    const code = errorCode(e);
    const message = e instanceof Error ? e.message : String(e);
    this.store.recordRejection(this.config.experiment, round, agent, code, message, this.now());
    this.logger.warn('message rejected', { agent, round, code, message });
    this.emit('rejected', { round, agent, code, message } satisfies UploadRejected);
  }

  protected async onAgentMessage(kind: SenderTopic, agent: string, bytes: Uint8Array, ack: Ack): Promise<void> {
    const c = this.config;
    if (kind === 'partial') return this.onPartial(agent, bytes, ack);
    if (kind === 'upload' && this.known.has(agent)) return this.onUpload(agent, bytes, ack);
    try {
      if (!this.known.has(agent)) throw new TinyProtoError('E_UNKNOWN_AGENT', `agent "${agent}" is not part of experiment "${c.experiment}"`);
      if (kind === 'status') this.pending.addStatus(statusEntry(c.experiment, agent, bytes, this.now()), ack);
      else this.pending.addTelemetry(telemetryEntry(c.experiment, agent, bytes, this.now()), ack);
    } catch (e) {
      this.reject(null, agent, e);
      ack();
      return;
    }
    await this.scheduleFlush();
  }

  protected async onUpload(agent: string, bytes: Uint8Array, ack: Ack): Promise<void> {
    const c = this.config;
    // a resend of an upload still in the batch: commit the batch, then it is a duplicate
    if (this.pending.hasUpload(agent)) await this.flush();
    // a receipt can answer only an upload whose frame is intact and really from this agent
    const id = uploadIdentity(bytes, c.experiment);
    const answerable = id !== null && id.sender === agent ? id : null;
    const round = this.round;
    let prototypes;
    let trainSamples: number | null = null;
    try {
      // uploads: after the last round there is nothing to take part in
      const closed = this.uploadsClosed();
      if (closed) throw closed;
      const up = admitUpload({ config: c, round, mu: this.mu, reported: this.reported, valuesPerClass: this.valuesPerClass, layout: this.layout, selected: this.selected }, agent, bytes);
      prototypes = up.body.prototypes;
      trainSamples = up.body.trainSamples ?? null;
      if (this.accepted.has(agent)) throw new TinyProtoError('E_DUPLICATE', `duplicate upload from "${agent}" for round ${round}`);
    } catch (e) {
      this.reject(round, agent, e);
      if (answerable) await this.sendReceipt(agent, answerable, heldAlready(this.store, this.config.experiment, this.round, agent, answerable.round, e) ? 'duplicate' : 'rejected', e);
      ack();
      return;
    }
    this.pending.addUpload({ round, agent, bytes, receivedAt: this.now(), prototypes, trainSamples, id: answerable! }, ack);
    await this.scheduleFlush();
  }

  /** Commits now when the batch is full; otherwise makes sure a flush is queued. */
  protected async scheduleFlush(): Promise<void> {
    if (this.pending.size >= this.commit.maxBatch) return this.flush();
    if (this.flushArmed) return;
    this.flushArmed = true;
    const run = (): void => void this.queue.push(() => this.flush());
    if (this.commit.maxDelayMs === 0) setImmediate(run);
    else setTimeout(run, this.commit.maxDelayMs).unref?.();
  }

  /**
   * Commits the pending batch in one transaction, then applies it: uploads counted and summed,
   * receipts published, status and telemetry events, and every message acknowledged.
   */
  protected async flush(closeAfter = true): Promise<void> {
    this.flushArmed = false;
    if (this.pending.size === 0) return;
    const b = this.pending.take();
    let result;
    try {
      result = this.store.commitBatch(this.config.experiment, batchWrite(b));
    } catch (e) {
      // nothing of it was answered: agents resend until their receipt; the broker copies can go
      this.logger.error('batch commit failed; its messages are dropped (agents resend uploads)', { messages: b.acks.length, code: errorCode(e), error: (e as Error).message });
      for (const a of b.acks) a();
      this.emit('failure', e);
      return;
    }
    await this.applyBatch(b, result.uploads, result.telemetry);
    for (const a of b.acks) a();
    if (closeAfter) await this.closeIfDone();
  }

  protected async applyBatch(b: TakenBatch, uploads: readonly string[], telemetry: readonly string[]): Promise<void> {
    b.telemetry.forEach((t, i) => (telemetry[i] === 'accepted' ? this.emit('telemetry', t.record) : this.logger.debug('telemetry already stored', { agent: t.agent, round: t.round })));
    for (const s of b.statuses) {
      this.emit('status', { agent: s.agent, ...s.body });
      this.noteStatus(s.agent, s.body.state);
    }
    const receipts = b.uploads.map((u, i) => {
      // the store's key is the last word on duplicates (the batch was checked against `accepted`)
      if (uploads[i] !== 'accepted') return this.refuseDuplicate(u.agent, u.id);
      this.reported.note(u.agent, u.trainSamples);
      addUpload({ ...this.closeContext(), mu: uploadBoundMu(this.config, this.mu, u.trainSamples, u.agent) }, this.sums, u.prototypes, u.agent);
      this.bytesIn += u.bytes.length;
      this.accepted.add(u.agent);
      this.emit('upload', { round: u.round, agent: u.agent, bytes: u.bytes.length, accepted: this.accepted.size, expected: this.selected.size } satisfies UploadAccepted);
      return this.sendReceipt(u.agent, u.id, 'accepted');
    });
    await Promise.all(receipts);
  }

  protected refuseDuplicate(agent: string, id: { round: number; crc: number }): Promise<void> {
    const e = new TinyProtoError('E_DUPLICATE', `duplicate upload from "${agent}" for round ${id.round}`);
    this.reject(id.round, agent, e);
    return this.sendReceipt(agent, id, 'duplicate', e);
  }

  /** A selected agent offline beyond the grace is not waited for (closeIfDone follows the batch). */
  protected noteStatus(agent: string, state: string): void {
    const graceEnds = this.offline.note(agent, state);
    if (graceEnds !== null && !this.finished && this.selected.has(agent) && !this.accepted.has(agent)) this.lookAgainAt(graceEnds);
  }

  protected lookAgainAt(t: number): void {
    const round = this.round;
    setTimeout(() => void this.queue.push(async () => (round === this.round && !this.finished ? this.closeIfDone() : undefined)), Math.max(0, t - this.now()) + 10).unref?.();
  }

  protected closeContext(): CloseContext {
    return { config: this.config, sender: this.sender, round: this.round, masks: this.masks, mu: this.mu, valuesPerClass: this.valuesPerClass, layout: this.layout };
  }
}
