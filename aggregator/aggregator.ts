/**
 * The aggregator: fixes the class masks, announces rounds, validates and stores uploads, computes
 * the global prototypes and publishes them. Transport and storage are injected; the maths is in
 * global.ts / aggregate.ts. Every event (message, deadline) is handled one at a time, in order.
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
import { decodeGlobal, decodeMasks, decodeStatus, decodeTelemetry, telemetryRecord, encodeMasks } from '../wire/codec.ts';
import type { Layout, ReceiptOutcome } from '../wire/codec-types.ts';
import { experimentMu, type ExperimentConfig } from './config.ts';
import { selectParticipants } from '../method/selection.ts';
import { admitUpload, checkSender, receiptFor, uploadIdentity } from './intake.ts';
import { atDeadline, earlyClose, type RoundOutcome } from './round-policy.ts';
import { closeGlobal } from './close.ts';
import { announceRound, awaitTelemetry, republishRetained } from './announce.ts';
import type { AggregatorStore } from './store.ts';
import { canonicalJson } from '../storage/sqlite.ts';

import type { AggregatorOptions, AggregatorTransport, RoundClosed, RoundOpened, UploadAccepted, UploadRejected } from './aggregator-types.ts';

export type { AggregatorOptions, AggregatorTransport, RoundClosed, RoundOpened, UploadAccepted, UploadRejected };

const SENDER = 'aggregator';

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
  /** Agents whose last STATUS says offline, and since when (kept across rounds). */
  private readonly offline = new Map<string, number>();
  private extensions = 0;
  private openedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly queue: SerialQueue;
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
    const c = this.config;
    this.masks = experimentMasks(c);
    this.mu = experimentMu(c);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    this.queue = new SerialQueue((e) => {
      this.logger.error('aggregator task failed', { error: e instanceof Error ? e.message : String(e), code: errorCode(e) });
      this.emit('failure', e);
    });
  }

  /** Values per class on the wire: s under the mask (TinyProto) or d (FedProto). */
  get valuesPerClass(): number {
    return this.masks?.s ?? this.config.featureDim;
  }

  get layout(): Layout {
    return this.masks ? 'sparse' : 'dense';
  }

  get currentRound(): number {
    return this.round;
  }

  get classMasks(): ClassMasks | null {
    return this.masks;
  }

  get scale(): number | null {
    return this.mu;
  }

  /** Creates or resumes the experiment, publishes the masks and opens (or resumes) a round. */
  async start(): Promise<void> {
    const c = this.config;
    const configJson = { ...c, agents: [...c.agents], mu: this.mu } as Record<string, unknown>;
    let exp = this.store.getExperiment(c.experiment);
    if (exp === null) {
      const masksBytes = this.masks
        ? encodeMasks({ experiment: c.experiment, sender: SENDER, round: 0 }, { mode: 'params', params: this.masks.params })
        : null;
      this.store.createExperiment(c.experiment, configJson, masksBytes);
      exp = this.store.getExperiment(c.experiment)!;
      this.logger.info('experiment created', { experiment: c.experiment, method: c.method, mu: this.mu });
    } else if (canonicalJson(exp.config) !== canonicalJson(configJson)) {
      throw new TinyProtoError('E_CONFIG', `experiment "${c.experiment}" already exists in the store with a different configuration; use a new experiment id or the same settings`, {
        stored: exp.config,
      });
    } else {
      this.logger.info('experiment resumed', { experiment: c.experiment, round: exp.currentRound, status: exp.status });
    }
    if (exp.masksBytes) {
      // what agents receive is what the store holds; check it agrees with this process's masks
      const m = decodeMasks(exp.masksBytes, { experiment: c.experiment, K: c.numClasses, d: c.featureDim });
      if (this.masks && m.body.masks.s !== this.masks.s) throw new TinyProtoError('E_MASK', 'stored masks disagree with the configuration');
      await this.transport.publishRetained('masks', exp.masksBytes);
    }
    const latest = this.store.latestGlobal(c.experiment);
    if (latest) {
      const g = decodeGlobal(latest.bytes, { experiment: c.experiment, K: c.numClasses, d: c.featureDim, s: this.valuesPerClass });
      this.globalPrototypes = new Map(g.body.prototypes.map((p) => [p.classId, p.values]));
    }
    // the round is resumed (or opened) before any agent message is handled: messages the broker
    // kept for this persistent session while the aggregator was down are delivered as soon as
    // the handler is registered, and belong to the resumed round
    const opened = exp.status === 'finished' ? null : this.queue.push(() => this.resumeOrOpen(exp.currentRound));
    this.transport.onAgentMessage((kind, agent, bytes) => this.queue.push(() => this.onAgentMessage(kind, agent, bytes)));
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
      void this.queue.push(() => this.republishRetained());
    });
  }

  private async republishRetained(): Promise<void> {
    await republishRetained(this.store, this.transport, this.config.experiment, this.round);
    this.logger.info('retained messages published again after reconnecting', { round: this.round });
  }

  /** Stops timers and handling; the store keeps everything for a later resume. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.queue.close();
    this.resolveDone();
  }

  private async resumeOrOpen(current: number): Promise<void> {
    const c = this.config;
    const row = current > 0 ? this.store.getRound(c.experiment, current) : null;
    if (row && row.status === 'open') {
      this.round = current;
      this.selected = new Set(selectParticipants(c.agents, c.participation, c.experiment, current).selected);
      this.accepted = new Set(this.store.uploadsFor(c.experiment, current).map((u) => u.agent));
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
    this.extensions = 0;
    this.openedAt = this.now();
    await this.transport.publishRetained('round', bytes);
    this.emit('roundOpened', { round, selected, deadlineMs, resumed: false } satisfies RoundOpened);
    this.arm(c.roundDeadlineMs);
    for (const [a, since] of this.offline) if (this.selected.has(a)) this.recheckWhenGraceEnds(since);
  }

  private arm(ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    const round = this.round;
    this.timer = setTimeout(() => void this.queue.push(() => this.onDeadline(round)), ms);
    this.timer.unref?.();
  }

  private progress(): Parameters<typeof atDeadline>[0] {
    return {
      selected: this.selected.size,
      accepted: this.accepted.size,
      // an agent that went offline is waited for a grace period (a Wi-Fi blip, a quick restart)
      offline: [...this.offline].filter(([a, since]) => this.selected.has(a) && !this.accepted.has(a) && this.now() - since >= this.config.offlineGraceMs).length,
      minUploads: this.config.minUploads,
      extensions: this.extensions,
      maxExtensions: this.config.maxDeadlineExtensions,
    };
  }

  private async onDeadline(round: number): Promise<void> {
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

  private async onAgentMessage(kind: AgentTopic, agent: string, bytes: Uint8Array): Promise<void> {
    const c = this.config;
    if (!c.agents.includes(agent)) {
      this.reject(null, agent, new TinyProtoError('E_UNKNOWN_AGENT', `agent "${agent}" is not part of experiment "${c.experiment}"`));
      return;
    }
    if (kind === 'status') {
      try {
        const s = decodeStatus(bytes, { experiment: c.experiment });
        checkSender(s.header.sender, agent);
        this.store.upsertAgent(c.experiment, agent, { state: s.body.state, lastSeen: this.now(), lastRound: s.body.lastRound, family: s.body.modelFamily });
        this.emit('status', { agent, ...s.body });
      } catch (e) {
        this.reject(null, agent, e);
        return;
      }
      await this.noteStatus(agent, bytes);
      return;
    }
    if (kind === 'telemetry') {
      try {
        const t = decodeTelemetry(bytes, { experiment: c.experiment });
        checkSender(t.header.sender, agent);
        const record = telemetryRecord(t);
        if (this.store.recordTelemetry(c.experiment, agent, record.round, record, this.now()) === 'duplicate') {
          this.logger.debug('telemetry already stored', { agent, round: record.round });
          return;
        }
        this.emit('telemetry', record);
      } catch (e) {
        this.reject(null, agent, e);
      }
      return;
    }
    await this.onUpload(agent, bytes);
  }

  private async onUpload(agent: string, bytes: Uint8Array): Promise<void> {
    const c = this.config;
    // a receipt can answer only an upload whose frame is intact and really from this agent
    const id = uploadIdentity(bytes, c.experiment);
    const answerable = id !== null && id.sender === agent ? id : null;
    const round = this.round;
    try {
      // uploads: after the last round there is nothing to take part in
      if (this.finished) throw new TinyProtoError('E_ROUND', `experiment "${c.experiment}" has finished; upload ignored`);
      admitUpload({ config: c, round, mu: this.mu, valuesPerClass: this.valuesPerClass, layout: this.layout, selected: this.selected }, agent, bytes);
      if (this.store.recordUpload(c.experiment, round, agent, bytes, this.now()) === 'duplicate') {
        throw new TinyProtoError('E_DUPLICATE', `duplicate upload from "${agent}" for round ${round}`);
      }
    } catch (e) {
      this.reject(round, agent, e);
      if (answerable) await this.sendReceipt(agent, answerable, this.heldAlready(agent, answerable.round, e) ? 'duplicate' : 'rejected', e);
      return;
    }
    this.accepted.add(agent);
    this.emit('upload', { round, agent, bytes: bytes.length, accepted: this.accepted.size, expected: this.selected.size } satisfies UploadAccepted);
    await this.sendReceipt(agent, answerable!, 'accepted');
    await this.closeIfDone();
  }

  /**
   * Whether a refused upload is one the store already holds (a resend after a lost receipt, also
   * of a round that has closed since): its receipt then says duplicate, and the agent is done.
   */
  private heldAlready(agent: string, round: number, e: unknown): boolean {
    const code = errorCode(e);
    if (code === 'E_DUPLICATE') return true;
    if (code !== 'E_ROUND' || round > this.round) return false;
    return this.store.uploadsFor(this.config.experiment, round).some((u) => u.agent === agent);
  }

  /** A selected agent that went offline before uploading is not waited for beyond offlineGraceMs. */
  private async noteStatus(agent: string, bytes: Uint8Array): Promise<void> {
    const state = decodeStatus(bytes).body.state;
    if (state !== 'offline') {
      this.offline.delete(agent);
      return;
    }
    if (!this.offline.has(agent)) this.offline.set(agent, this.now());
    if (this.finished || !this.selected.has(agent) || this.accepted.has(agent)) return;
    this.recheckWhenGraceEnds(this.now());
    await this.closeIfDone();
  }

  /** Looks again once the offline grace of an agent that went offline at `since` is over. */
  private recheckWhenGraceEnds(since: number): void {
    const round = this.round;
    const wait = Math.max(0, since + this.config.offlineGraceMs - this.now()) + 10;
    setTimeout(() => void this.queue.push(async () => (round === this.round && !this.finished ? this.closeIfDone() : undefined)), wait).unref?.();
  }

  private async closeRound(outcome: RoundOutcome, reason: string): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const c = this.config;
    const round = this.round;
    const rows = this.store.uploadsFor(c.experiment, round);
    const closed = closeGlobal(
      { config: c, sender: SENDER, round, masks: this.masks, mu: this.mu, valuesPerClass: this.valuesPerClass, layout: this.layout },
      rows.map((u) => u.bytes),
      this.globalPrototypes,
    );
    const globalBytes = closed.bytes;
    const summary: RoundClosed = {
      round,
      uploads: rows.length,
      selected: this.selected.size,
      bytesIn: rows.reduce((a, u) => a + u.bytes.length, 0),
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
