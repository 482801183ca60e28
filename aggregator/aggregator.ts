/**
 * The aggregator: fixes the class masks, announces rounds, validates and stores uploads, computes
 * the global prototypes and publishes them. Transport and storage are injected; the maths is in
 * global.ts / aggregate.ts. Every event (message, deadline) is handled one at a time, in order.
 *
 * Group commit (aggregator/batch.ts): uploads, status and telemetry are committed in batches; a
 * message is answered (RECEIPT) and acknowledged (PUBACK) only once its batch is durable. Each
 * upload is decoded once and added to the round's float64 sums after its commit: a round closes
 * in O(K * s). The store is read back only to resume.
 *
 * Crash safety: every accepted upload is committed to the store before it counts, a round's
 * global prototypes are committed before they are published, and a restarted aggregator resumes
 * the same experiment at the same round (an open round keeps its accepted uploads).
 *
 * Delivery: every upload from a known agent is answered with a RECEIPT after it is committed
 * (accepted, or duplicate when the store already holds it, also for a round that has closed) or
 * refused (rejected, with the code). Agents keep an upload until its receipt arrives.
 * Liveness: every round ends (aggregator/round-policy.ts): it closes when no selected agent is
 * still expected, at its deadline with enough uploads, or after a bounded number of extensions
 * with what it has or abandoned with a recorded reason.
 */
import { EventEmitter } from 'node:events';
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { SerialQueue } from '../common/serial.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { experimentMasks } from '../method/experiment.ts';
import type { AgentTopic } from '../wire/topics.ts';
import type { Layout, ReceiptOutcome } from '../wire/codec-types.ts';
import { experimentMu, type ExperimentConfig } from './config.ts';
import { selectParticipants } from '../method/selection.ts';
import { admitUpload, heldAlready, receiptFor, uploadIdentity } from './intake.ts';
import { latestGlobalPrototypes, openExperiment, republishRetained, statusEntry, telemetryEntry } from './experiment-open.ts';
import { atDeadline, earlyClose, type RoundOutcome } from './round-policy.ts';
import { addUpload, closeFromSums, emptySums, sumsFromFrames } from './close.ts';
import { PendingBatch, batchWrite, commitPolicy, type Ack, type TakenBatch } from './batch.ts';
import { OfflineAgents } from './offline.ts';
import type { RunningSums } from '../method/running-sum.ts';
import { announceRound, awaitTelemetry } from './announce.ts';
import type { AggregatorStore } from './store.ts';

import type { AggregatorOptions, AggregatorTransport, CommitPolicy, RoundClosed, RoundOpened, UploadAccepted, UploadRejected } from './aggregator-types.ts';

export type { AggregatorOptions, AggregatorTransport, CommitPolicy, RoundClosed, RoundOpened, UploadAccepted, UploadRejected };

const SENDER = 'aggregator';
const NO_ACK: Ack = () => undefined;

export class Aggregator extends EventEmitter {
  readonly config: ExperimentConfig;
  private readonly store: AggregatorStore;
  private readonly transport: AggregatorTransport;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly masks: ClassMasks | null;
  private readonly mu: number | null;
  private globalPrototypes = new Map<number, Float32Array>();
  private round = 0;
  private selected = new Set<string>();
  private accepted = new Set<string>();
  private readonly offline: OfflineAgents;
  private extensions = 0;
  private openedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly queue: SerialQueue;
  private readonly commit: CommitPolicy;
  private readonly known: ReadonlySet<string>;
  private pending = new PendingBatch();
  private flushArmed = false;
  /** The open round's accepted uploads, summed (clipped) as they were committed. */
  private sums: RunningSums;
  private bytesIn = 0;
  private finished = false;
  private resolveDone!: () => void;
  /** Resolves when the last round has closed (or stop() was called). */
  readonly done: Promise<void>;

  constructor(opts: AggregatorOptions) {
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
    this.commit = commitPolicy(opts.commit);
    this.known = new Set(c.agents);
    this.sums = emptySums(this.closeContext());
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.queue = new SerialQueue((e) => {
      this.logger.error('aggregator task failed', { error: e instanceof Error ? e.message : String(e), code: errorCode(e) });
      this.emit('failure', e);
    });
  }

  /** Values per class on the wire: s under the mask (TinyProto) or d (FedProto). */
  get valuesPerClass(): number { return this.masks?.s ?? this.config.featureDim; } // prettier-ignore
  get layout(): Layout { return this.masks ? 'sparse' : 'dense'; } // prettier-ignore
  get currentRound(): number { return this.round; } // prettier-ignore
  get classMasks(): ClassMasks | null { return this.masks; } // prettier-ignore
  get scale(): number | null { return this.mu; } // prettier-ignore

  /** Creates or resumes the experiment, publishes the masks and opens (or resumes) a round. */
  async start(): Promise<void> {
    const c = this.config;
    const exp = openExperiment(this.store, c, this.masks, this.mu, SENDER, this.logger);
    if (exp.masksBytes) await this.transport.publishRetained('masks', exp.masksBytes);
    this.globalPrototypes = latestGlobalPrototypes(this.store, c, this.valuesPerClass);
    // the round is resumed (or opened) before any agent message is handled: messages the broker
    // kept for this persistent session while the aggregator was down are delivered as soon as
    // the handler is registered, and belong to the resumed round
    const opened = exp.status === 'finished' ? null : this.queue.push(() => this.resumeOrOpen(exp.currentRound));
    this.transport.onAgentMessage((kind, agent, bytes, ack) => void this.queue.push(() => this.onAgentMessage(kind, agent, bytes, ack ?? NO_ACK)));
    if (opened === null) {
      this.finish();
      return;
    }
    await opened;
    // a broker that restarted without its state has lost the retained masks, round and global
    // prototypes: publish them again on every reconnection (agents ignore what they already have)
    let initial = true;
    this.transport.onConnect?.(() => {
      if (initial) {
        initial = false;
        return;
      }
      void this.queue.push(() => republishRetained(this.store, this.transport, this.config.experiment, this.round, this.logger));
    });
  }

  /** Stops timers and handling; the store keeps everything for a later resume. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.queue.push(() => this.flush(false));
    await this.queue.close();
    this.resolveDone();
  }

  private async resumeOrOpen(current: number): Promise<void> {
    const c = this.config;
    const row = current > 0 ? this.store.getRound(c.experiment, current) : null;
    if (row && row.status === 'open') {
      this.round = current;
      this.selected = new Set(selectParticipants(c.agents, c.participation, c.experiment, current).selected);
      const rows = this.store.uploadsFor(c.experiment, current);
      this.accepted = new Set(rows.map((u) => u.agent));
      // recovery: the only read-back of uploads, decoding each as intake did
      this.sums = sumsFromFrames({ ...this.closeContext(), round: current }, rows.map((u) => u.bytes));
      this.bytesIn = rows.reduce((a, u) => a + u.bytes.length, 0);
      this.extensions = 0;
      this.openedAt = this.now();
      await this.transport.publishRetained('round', row.announcementBytes);
      this.emit('roundOpened', { round: current, selected: [...this.selected], deadlineMs: row.deadlineMs, resumed: true } satisfies RoundOpened);
      this.logger.info('round resumed', { round: current, accepted: this.accepted.size });
      if (this.accepted.size >= this.selected.size) return this.closeRound('complete', `all ${this.selected.size} selected agents uploaded`);
      this.arm(Math.max(0, row.deadlineMs - this.now()));
      return;
    }
    await this.openRound(current + 1);
  }

  private async openRound(round: number): Promise<void> {
    const c = this.config;
    if (round > c.rounds) return this.finish();
    const deadlineMs = this.now() + c.roundDeadlineMs;
    const { selected, bytes } = announceRound(c, SENDER, round, deadlineMs);
    this.store.openRound(c.experiment, round, bytes, deadlineMs);
    this.store.setCurrentRound(c.experiment, round);
    this.round = round;
    this.selected = new Set(selected);
    this.accepted = new Set();
    this.sums = emptySums(this.closeContext());
    this.bytesIn = 0;
    this.extensions = 0;
    this.openedAt = this.now();
    await this.transport.publishRetained('round', bytes);
    this.emit('roundOpened', { round, selected, deadlineMs, resumed: false } satisfies RoundOpened);
    this.arm(c.roundDeadlineMs);
    for (const t of this.offline.graceEnds(this.selected)) this.lookAgainAt(t);
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    const round = this.round;
    this.timer = setTimeout(() => void this.queue.push(() => this.onDeadline(round)), ms);
    this.timer.unref?.();
  }

  private progress(): Parameters<typeof atDeadline>[0] {
    const c = this.config;
    return { selected: this.selected.size, accepted: this.accepted.size, offline: this.offline.gone(this.selected, this.accepted), minUploads: c.minUploads, extensions: this.extensions, maxExtensions: c.maxDeadlineExtensions };
  }

  private async onDeadline(round: number): Promise<void> {
    if (round !== this.round || this.finished) return;
    await this.flush();
    if (round !== this.round || this.finished) return;
    const d = atDeadline(this.progress());
    if (d.action === 'extend') {
      this.extensions++;
      this.logger.warn('round deadline passed with too few uploads; extending it', { round, reason: d.reason });
      this.arm(this.config.roundDeadlineMs);
      return;
    }
    this.logger.warn('round deadline: closing', { round, outcome: d.outcome, reason: d.reason });
    return this.closeRound(d.outcome, d.reason);
  }

  /** Closes the round now when nothing more is expected (everyone uploaded, or the rest is offline). */
  private async closeIfDone(): Promise<void> {
    if (this.finished) return; // after the last round, batches of status and telemetry still commit
    const e = earlyClose(this.progress());
    if (e) await this.closeRound(e.outcome, e.reason);
  }

  private async sendReceipt(agent: string, id: { round: number; crc: number }, outcome: ReceiptOutcome, error?: unknown): Promise<void> {
    const c = this.config;
    try {
      await this.transport.publishReceipt(agent, receiptFor(c.experiment, SENDER, agent, id, outcome, error));
    } catch (e) {
      // the upload stays committed; the agent resends and gets a duplicate receipt then
      this.logger.warn('receipt not published', { agent, round: id.round, outcome, error: (e as Error).message });
    }
  }

  private reject(round: number | null, agent: string | null, e: unknown): void {
    const code = errorCode(e);
    const message = e instanceof Error ? e.message : String(e);
    this.store.recordRejection(this.config.experiment, round, agent, code, message, this.now());
    this.logger.warn('message rejected', { agent, round, code, message });
    this.emit('rejected', { round, agent, code, message } satisfies UploadRejected);
  }

  private async onAgentMessage(kind: AgentTopic, agent: string, bytes: Uint8Array, ack: Ack): Promise<void> {
    const c = this.config;
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

  private async onUpload(agent: string, bytes: Uint8Array, ack: Ack): Promise<void> {
    const c = this.config;
    // a resend of an upload still in the batch: commit the batch, then it is a duplicate
    if (this.pending.hasUpload(agent)) await this.flush();
    // a receipt can answer only an upload whose frame is intact and really from this agent
    const id = uploadIdentity(bytes, c.experiment);
    const answerable = id !== null && id.sender === agent ? id : null;
    const round = this.round;
    let prototypes;
    try {
      // uploads: after the last round there is nothing to take part in
      if (this.finished) throw new TinyProtoError('E_ROUND', `experiment "${c.experiment}" has finished; upload ignored`);
      prototypes = admitUpload({ config: c, round, mu: this.mu, valuesPerClass: this.valuesPerClass, layout: this.layout, selected: this.selected }, agent, bytes).body.prototypes;
      if (this.accepted.has(agent)) throw new TinyProtoError('E_DUPLICATE', `duplicate upload from "${agent}" for round ${round}`);
    } catch (e) {
      this.reject(round, agent, e);
      if (answerable) await this.sendReceipt(agent, answerable, heldAlready(this.store, this.config.experiment, this.round, agent, answerable.round, e) ? 'duplicate' : 'rejected', e);
      ack();
      return;
    }
    this.pending.addUpload({ round, agent, bytes, receivedAt: this.now(), prototypes, id: answerable! }, ack);
    await this.scheduleFlush();
  }

  /** Commits now when the batch is full; otherwise makes sure a flush is queued. */
  private async scheduleFlush(): Promise<void> {
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
  private async flush(closeAfter = true): Promise<void> {
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

  private async applyBatch(b: TakenBatch, uploads: readonly string[], telemetry: readonly string[]): Promise<void> {
    b.telemetry.forEach((t, i) => (telemetry[i] === 'accepted' ? this.emit('telemetry', t.record) : this.logger.debug('telemetry already stored', { agent: t.agent, round: t.round })));
    for (const s of b.statuses) {
      this.emit('status', { agent: s.agent, ...s.body });
      this.noteStatus(s.agent, s.body.state);
    }
    const receipts = b.uploads.map((u, i) => {
      // the store's key is the last word on duplicates (the batch was checked against `accepted`)
      if (uploads[i] !== 'accepted') return this.refuseDuplicate(u.agent, u.id);
      addUpload(this.closeContext(), this.sums, u.prototypes, u.agent);
      this.bytesIn += u.bytes.length;
      this.accepted.add(u.agent);
      this.emit('upload', { round: u.round, agent: u.agent, bytes: u.bytes.length, accepted: this.accepted.size, expected: this.selected.size } satisfies UploadAccepted);
      return this.sendReceipt(u.agent, u.id, 'accepted');
    });
    await Promise.all(receipts);
  }

  private refuseDuplicate(agent: string, id: { round: number; crc: number }): Promise<void> {
    const e = new TinyProtoError('E_DUPLICATE', `duplicate upload from "${agent}" for round ${id.round}`);
    this.reject(id.round, agent, e);
    return this.sendReceipt(agent, id, 'duplicate', e);
  }

  /** A selected agent offline beyond the grace is not waited for (closeIfDone follows the batch). */
  private noteStatus(agent: string, state: string): void {
    const graceEnds = this.offline.note(agent, state);
    if (graceEnds !== null && !this.finished && this.selected.has(agent) && !this.accepted.has(agent)) this.lookAgainAt(graceEnds);
  }

  private lookAgainAt(t: number): void {
    const round = this.round;
    setTimeout(() => void this.queue.push(async () => (round === this.round && !this.finished ? this.closeIfDone() : undefined)), Math.max(0, t - this.now()) + 10).unref?.();
  }

  private closeContext(): Parameters<typeof closeFromSums>[0] {
    return { config: this.config, sender: SENDER, round: this.round, masks: this.masks, mu: this.mu, valuesPerClass: this.valuesPerClass, layout: this.layout };
  }

  private async closeRound(outcome: RoundOutcome, reason: string): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush(false);
    const c = this.config;
    const round = this.round;
    const closed = closeFromSums(this.closeContext(), this.sums, this.globalPrototypes);
    const globalBytes = closed.bytes;
    const summary: RoundClosed = {
      round,
      uploads: this.sums.count,
      selected: this.selected.size,
      bytesIn: this.bytesIn,
      globalBytes: globalBytes?.length ?? 0,
      classesWithGlobal: closed.classes,
      seconds: (this.now() - this.openedAt) / 1000,
      outcome,
      reason,
    };
    if (outcome === 'abandoned' || outcome === 'below-minimum') this.logger.warn('round closed', { round, outcome, reason });
    this.store.closeRound(c.experiment, round, globalBytes, { ...summary });
    this.globalPrototypes = closed.prototypes;
    if (globalBytes) await this.transport.publishRetained('global', globalBytes);
    this.emit('roundClosed', summary);
    await this.openRound(round + 1);
  }

  /**
   * After the last round: resolves when every agent that uploaded in it has sent its telemetry
   * for it (its TELEMETRY follows its evaluation of the final global prototypes), or after
   * `timeoutMs`, with the agents still missing.
   */
  async awaitFinalTelemetry(timeoutMs: number): Promise<string[]> {
    return awaitTelemetry(this.store, this.config.experiment, this.round, timeoutMs, this.now);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.store.finishExperiment(this.config.experiment);
    this.logger.info('experiment finished', { experiment: this.config.experiment, rounds: this.config.rounds });
    this.emit('finished', { rounds: this.config.rounds });
    this.resolveDone();
  }
}
