/**
 * The aggregator: fixes the class masks, announces rounds, validates and stores uploads, computes
 * the global prototypes and publishes them. Transport and storage are injected; the maths is in
 * global.ts / aggregate.ts. Every event (message, deadline) is handled one at a time, in order.
 *
 * The intake of the open round (validation, duplicates, group commit, receipts) is
 * aggregator/round-intake.ts, shared with edge relays (relay/relay.ts); this class owns the
 * rounds. Relays (`relays`, `--relays`) send one PARTIAL per round: their sums are merged after
 * the checks of aggregator/partial-intake.ts, each agent counted once per round (PROTOCOL.md §3.8).
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
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { MessageType, type ReceiptOutcome } from '../wire/codec-types.ts';
import { decodePartial } from '../wire/codec.ts';
import { selectParticipants } from '../method/selection.ts';
import { RunningSums } from '../method/running-sum.ts';
import { uploadIdentity } from './intake.ts';
import { admitPartial } from './partial-intake.ts';
import { classAges, latestGlobalPrototypes, openExperiment, republishRetained } from './experiment-open.ts';
import { atDeadline, earlyClose, type RoundOutcome } from './round-policy.ts';
import { closeFromSums, emptySums, sumsFromFrames } from './close.ts';
import { announceRound, awaitTelemetry } from './announce.ts';
import { RoundIntake } from './round-intake.ts';
import { chooseMu, totalsDisagreement, type MuChoice } from './train-samples.ts';
import type { Ack } from './batch.ts';
import type { AggregatorOptions, AggregatorTransport, CommitPolicy, PartialAccepted, RoundClosed, RoundOpened, UploadAccepted, UploadRejected } from './aggregator-types.ts';

export type { AggregatorOptions, AggregatorTransport, CommitPolicy, PartialAccepted, RoundClosed, RoundOpened, UploadAccepted, UploadRejected };

export class Aggregator extends RoundIntake {
  private globalPrototypes = new Map<number, Float32Array>();
  /** Per class, rounds in a row without a contributor (staleRounds); rebuilt from the store on start. */
  private ages: Int32Array = new Int32Array(0);
  private extensions = 0;
  private openedAt = 0;
  private timer: NodeJS.Timeout | null = null;
  /** Relays whose PARTIALs count (--relays); empty: direct uploads only. */
  private readonly relays: ReadonlySet<string>;
  private lastWarning: string | null = null;
  private resolveDone!: () => void;
  /** Resolves when the last round has closed (or stop() was called). */
  readonly done: Promise<void>;

  constructor(opts: AggregatorOptions) {
    super(opts, 'aggregator');
    this.relays = new Set(opts.relays ?? []);
    for (const r of this.relays) this.assertRelayId(r);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Creates or resumes the experiment, publishes the masks and opens (or resumes) a round. */
  async start(): Promise<void> {
    const c = this.config;
    const exp = openExperiment(this.store, c, this.masks, this.mu, this.sender, this.logger);
    if (exp.masksBytes) await this.transport.publishRetained('masks', exp.masksBytes);
    this.globalPrototypes = latestGlobalPrototypes(this.store, c, this.valuesPerClass);
    this.ages = classAges(this.store, c, this.valuesPerClass, exp.currentRound);
    // the round is resumed (or opened) before any agent message is handled: messages the broker
    // kept for this persistent session while the aggregator was down are delivered as soon as
    // the handler is registered, and belong to the resumed round
    const opened = exp.status === 'finished' ? null : this.queue.push(() => this.resumeOrOpen(exp.currentRound));
    this.listen();
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

  /** Notes the counts of the stored uploads and partials of rounds [from, to] (what intake noted before a restart). */
  private noteStoredCounts(from: number, to: number): void {
    this.noteStoredUploads(from, to);
    for (let r = from; r <= to; r++) {
      for (const p of this.store.partials.forRound(this.config.experiment, r)) this.reported.noteRelay(p.relay, decodePartial(p.bytes).body.trainSamples ?? null);
    }
  }

  /** The mu choice with the counts known now (aggregator/train-samples.ts). */
  private muChoice(): MuChoice | null {
    return chooseMu(this.config, this.reported);
  }

  private async resumeOrOpen(current: number): Promise<void> {
    const c = this.config;
    const row = current > 0 ? this.store.getRound(c.experiment, current) : null;
    // the counts of earlier rounds fix the open round's intake mu, as they did before the restart
    this.noteStoredCounts(1, current - 1);
    if (!(row && row.status === 'open')) this.noteStoredCounts(current, current);
    if (row && row.status === 'open') {
      this.mu = this.muChoice()?.mu ?? null;
      this.noteStoredCounts(current, current);
      this.round = current;
      this.selected = new Set(selectParticipants(c.agents, c.participation, c.experiment, current).selected);
      const rows = this.store.uploadsFor(c.experiment, current);
      this.accepted = new Set(rows.map((u) => u.agent));
      // recovery: the only read-back of uploads, decoding each as intake did
      this.sums = sumsFromFrames({ ...this.closeContext(), round: current }, rows.map((u) => u.bytes));
      this.bytesIn = rows.reduce((a, u) => a + u.bytes.length, 0);
      for (const p of this.store.partials.forRound(c.experiment, current)) {
        const body = decodePartial(p.bytes, { experiment: c.experiment, round: current }).body;
        this.countPartial(body.agents, RunningSums.fromParts(c.numClasses, this.valuesPerClass, body.agents.length, body.classes), p.bytes.length);
      }
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
    const { selected, bytes } = announceRound(c, this.sender, round, deadlineMs);
    // the intake mu of this round: from the counts of earlier rounds (train-samples.ts)
    this.mu = this.muChoice()?.mu ?? null;
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
    return { selected: this.selected.size, accepted: this.accepted.size, offline: this.offline.gone(this.selected, this.accepted), minUploads: c.minUploads, closeAt: c.closeAt, extensions: this.extensions, maxExtensions: c.maxDeadlineExtensions };
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
  protected async closeIfDone(): Promise<void> {
    if (this.finished) return; // after the last round, batches of status and telemetry still commit
    const e = earlyClose(this.progress());
    if (e) await this.closeRound(e.outcome, e.reason);
  }


  private async closeRound(outcome: RoundOutcome, reason: string): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.flush(false);
    const c = this.config;
    const round = this.round;
    // the round's mu, from every count known now (its own uploads' included)
    const choice = this.muChoice();
    const mu = c.method === 'tinyproto' ? choice?.mu ?? null : null;
    // tinyproto with no mu yet: no upload could have been accepted (train-samples.ts), nothing to aggregate
    const closed = c.method === 'tinyproto' && mu === null ? { prototypes: this.globalPrototypes, bytes: null, classes: 0, ages: this.ages } : closeFromSums({ ...this.closeContext(), mu }, this.sums, this.globalPrototypes, this.ages);
    if (mu !== null) this.lastMu = mu;
    else if (c.method === 'tinyproto' && this.sums.count > 0) this.logger.error('round closed without a mu: its uploads are not aggregated', { round, uploads: this.sums.count });
    this.warnTotals(round, choice);
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
      mu,
      totalTrainSamples: choice?.totalTrainSamples ?? null,
      muSource: c.method === 'tinyproto' ? choice?.source ?? null : null,
    };
    if (outcome === 'abandoned' || outcome === 'below-minimum') this.logger.warn('round closed', { round, outcome, reason });
    this.store.closeRound(c.experiment, round, globalBytes, { ...summary });
    this.globalPrototypes = closed.prototypes;
    this.ages = closed.ages;
    if (globalBytes) await this.transport.publishRetained('global', globalBytes);
    this.emit('roundClosed', summary);
    await this.openRound(round + 1);
  }

  /** A configured total that disagrees with the agents' counts by more than 10%: warned once per figure. */
  private warnTotals(round: number, choice: MuChoice | null): void {
    const w = totalsDisagreement(choice);
    if (w === null || w === this.lastWarning || choice === null) return;
    this.lastWarning = w;
    this.logger.warn(w, { round, configured: choice.configured, reported: choice.reportedTotal, reportedAgents: choice.reportedAgents, mu: choice.mu, source: choice.source });
    this.emit('muWarning', { round, message: w, configured: choice.configured, reported: choice.reportedTotal, mu: choice.mu, source: choice.source });
  }

  /**
   * A relay's PARTIAL: checked at the boundary before any effect (aggregator/partial-intake.ts),
   * committed (store.partials), merged into the round's sums and answered with a RECEIPT to the
   * relay. A resend of a partial already held is a duplicate; one naming an agent already
   * counted this round is refused whole (E_PARTIAL_OVERLAP), so every agent counts once.
   */
  protected override async onPartial(relay: string, bytes: Uint8Array, ack: Ack): Promise<void> {
    const c = this.config;
    await this.flush(false); // uploads waiting in the batch count first: overlap is judged on what is committed
    const id = uploadIdentity(bytes, c.experiment, MessageType.Partial);
    const answerable = id !== null && id.sender === relay && this.relays.has(relay) ? id : null;
    let admitted;
    try {
      // a resend of a partial already held (also of a round that closed since) is a duplicate
      if (answerable && this.store.partials.get(c.experiment, answerable.round, relay)) throw new TinyProtoError('E_DUPLICATE', `duplicate partial from relay "${relay}" for round ${answerable.round}`);
      if (this.finished) throw new TinyProtoError('E_ROUND', `experiment "${c.experiment}" has finished; partial ignored`);
      admitted = admitPartial({ ...this.closeContext(), selected: this.selected, counted: this.accepted, relays: this.relays, reported: this.reported }, relay, bytes);
    } catch (e) {
      this.reject(answerable?.round ?? this.round, relay, e);
      if (answerable) await this.sendReceipt(relay, answerable, errorCode(e) === 'E_DUPLICATE' ? 'duplicate' : 'rejected', e);
      ack();
      return;
    }
    try {
      this.store.partials.record(c.experiment, this.round, relay, bytes, this.now());
    } catch (e) {
      // not answered: the relay resends it until its receipt
      this.logger.error('partial not committed; the relay resends it', { relay, round: this.round, code: errorCode(e), error: (e as Error).message });
      ack();
      return;
    }
    const agents = admitted.partial.body.agents;
    this.reported.noteRelay(relay, admitted.partial.body.trainSamples ?? null);
    this.countPartial(agents, admitted.sums, bytes.length);
    this.emit('partial', { round: this.round, relay, agents: agents.length, accepted: this.accepted.size, expected: this.selected.size } satisfies PartialAccepted);
    await this.sendReceipt(relay, answerable!, 'accepted');
    ack();
    await this.closeIfDone();
  }

  private countPartial(agents: readonly string[], sums: RunningSums, bytes: number): void {
    this.sums.mergeFrom(sums);
    for (const a of agents) this.accepted.add(a);
    this.bytesIn += bytes;
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