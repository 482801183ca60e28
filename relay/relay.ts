/**
 * An edge relay (`tinyproto relay`): its site's agents' aggregator, one upstream link to the
 * coordinator. Downstream it is the aggregator's own intake (aggregator/round-intake.ts: the same
 * validation, duplicate rejection, group commit and RECEIPTs after the commit), on rounds the
 * coordinator announces: each coordinator ROUND is stored and re-announced to the site (re-signed
 * by the transport wrapper), and so are MASKS (checked against the relay's own) and GLOBAL.
 *
 * A round is sealed when every selected agent of the site uploaded (or the rest is offline), at
 * the coordinator's deadline minus `marginMs`, or when the coordinator announces the next round:
 * its running sums and the contributing agents' ids become one PARTIAL (wire/codec-partial.ts),
 * committed to the relay store before it is sent, and resent every `resendMs` until the
 * coordinator's RECEIPT settles it. Uploads of a sealed round are refused (E_ROUND), resends of
 * stored ones answered as duplicates. A relay killed at any point resumes from its store: an
 * open round's sums are rebuilt from its stored uploads (the recovery path), a sealed round's
 * unsettled PARTIAL is resent; the coordinator counts each PARTIAL once (duplicate otherwise).
 */
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { decodeMasks, decodeReceipt, decodeRound, encodePartial, payloadCrc, peekHeader } from '../wire/codec.ts';
import type { FrameSigner } from '../wire/signature.ts';
import { isSelected } from '../method/selection.ts';
import { RoundIntake } from '../aggregator/round-intake.ts';
import { openExperiment } from '../aggregator/experiment-open.ts';
import { earlyClose, type RoundOutcome } from '../aggregator/round-policy.ts';
import { emptySums, sumsFromFrames } from '../aggregator/close.ts';
import type { AggregatorOptions, RoundOpened } from '../aggregator/aggregator-types.ts';
import type { RelayUpstream, UpstreamKind } from './upstream.ts';

export interface RelayOptions extends AggregatorOptions {
  /** The relay's id: the PARTIAL's sender and its topic (distinct from every agent id). */
  relayId: string;
  upstream: RelayUpstream;
  /** Signs the PARTIALs (the coordinator checks them against the relay's key). */
  signer?: FrameSigner | null;
  /** Seal this long before the coordinator's deadline (default 2000 ms). */
  marginMs?: number;
  /** Resend an unsettled PARTIAL this often (default 2000 ms). */
  resendMs?: number;
}

export interface RoundSealed {
  round: number;
  uploads: number;
  selected: number;
  outcome: RoundOutcome | 'superseded';
  reason: string;
  /** Bytes of the PARTIAL (0: nothing to send, no upload arrived). */
  partialBytes: number;
}

export interface PartialSettled {
  round: number;
  outcome: string;
  code: string;
}

export class Relay extends RoundIntake {
  readonly relayId: string;
  private readonly upstream: RelayUpstream;
  private readonly signer: FrameSigner | null;
  private readonly marginMs: number;
  private readonly resendMs: number;
  private sealed = true;
  private ownMasks: Uint8Array | null = null;
  private sealTimer: NodeJS.Timeout | null = null;
  private resendTimer: NodeJS.Timeout | null = null;
  private lastGlobalRound = 0;
  private lastGlobal: Uint8Array | null = null;
  private resolveDone!: () => void;
  /** Resolves when the last round's PARTIAL is settled and its GLOBAL passed on (or stop()). */
  readonly done: Promise<void>;

  constructor(opts: RelayOptions) {
    super(opts, opts.relayId);
    this.relayId = opts.relayId;
    this.upstream = opts.upstream;
    this.signer = opts.signer ?? null;
    this.marginMs = opts.marginMs ?? 2000;
    this.resendMs = opts.resendMs ?? 2000;
    this.assertRelayId(this.relayId);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  /** Creates or resumes the relay's experiment, resumes an open round, and follows the coordinator. */
  async start(): Promise<void> {
    const exp = openExperiment(this.store, this.config, this.masks, this.mu, this.relayId, this.logger);
    this.ownMasks = exp.masksBytes;
    if (exp.status === 'finished') {
      this.finished = true;
      this.resolveDone();
      return;
    }
    if (exp.masksBytes) await this.transport.publishRetained('masks', exp.masksBytes);
    await this.queue.push(() => this.resume(exp.currentRound));
    this.listen();
    this.upstream.onMessage((kind, bytes) => void this.queue.push(() => this.onUpstream(kind, bytes)));
    // a site broker that restarted without its state lost the retained masks, round and global
    let initial = true;
    this.transport.onConnect?.(() => {
      if (initial) return void (initial = false);
      void this.queue.push(() => this.republish());
    });
    const resend = (): void => {
      void this.queue.push(() => this.resendUnsettled());
      this.resendTimer = setTimeout(resend, this.resendMs);
      this.resendTimer.unref?.();
    };
    resend();
  }

  async stop(): Promise<void> {
    for (const t of [this.sealTimer, this.resendTimer]) if (t) clearTimeout(t);
    this.sealTimer = this.resendTimer = null;
    await this.queue.push(() => this.flush(false));
    await this.queue.close();
    this.resolveDone();
  }

  private async republish(): Promise<void> {
    const c = this.config;
    if (this.ownMasks) await this.transport.publishRetained('masks', this.ownMasks);
    if (this.lastGlobal) await this.transport.publishRetained('global', this.lastGlobal);
    const row = this.round > 0 ? this.store.getRound(c.experiment, this.round) : null;
    if (row && row.status === 'open') await this.transport.publishRetained('round', row.announcementBytes);
  }

  /** The PARTIALs not settled by a coordinator RECEIPT yet (what a restart resends). */
  unsettledRounds(): number[] {
    return this.store.partials.unsettled(this.config.experiment, this.relayId).map((p) => p.round);
  }

  protected override uploadsClosed(): TinyProtoError | null {
    if (this.sealed) return new TinyProtoError('E_ROUND', `round ${this.round} is sealed at relay "${this.relayId}": its sums went to the coordinator`);
    return super.uploadsClosed();
  }

  /** The site's agents the coordinator's ROUND selects. */
  private selectionOf(announcement: Uint8Array): Set<string> {
    const r = decodeRound(announcement, { experiment: this.config.experiment });
    return new Set(this.config.agents.filter((a) => isSelected(a, this.config.experiment, r.header.round, r.body)));
  }

  private async resume(current: number): Promise<void> {
    const c = this.config;
    const row = current > 0 ? this.store.getRound(c.experiment, current) : null;
    // the counts its agents reported before the restart: what its PARTIALs sum and check against
    this.noteStoredUploads(1, current);
    if (!row) return;
    this.round = current;
    this.sealed = row.status !== 'open';
    if (this.sealed) return;
    this.selected = this.selectionOf(row.announcementBytes);
    const rows = this.store.uploadsFor(c.experiment, current);
    this.accepted = new Set(rows.map((u) => u.agent));
    // recovery: the uploads it receipted before it stopped, decoded and summed as intake did
    this.sums = sumsFromFrames(this.closeContext(), rows.map((u) => u.bytes));
    this.bytesIn = rows.reduce((a, u) => a + u.bytes.length, 0);
    await this.transport.publishRetained('round', row.announcementBytes);
    this.emit('roundOpened', { round: current, selected: [...this.selected], deadlineMs: row.deadlineMs, resumed: true } satisfies RoundOpened);
    this.armSeal(row.deadlineMs);
    await this.closeIfDone();
  }

  private async onUpstream(kind: UpstreamKind, bytes: Uint8Array): Promise<void> {
    try {
      if (kind === 'round') await this.onRound(bytes);
      else if (kind === 'global') await this.onGlobal(bytes);
      else if (kind === 'receipt') this.onReceipt(bytes);
      else this.checkMasks(bytes);
    } catch (e) {
      this.logger.warn('coordinator message not used', { kind, code: errorCode(e), error: (e as Error).message });
    }
  }

  /** The coordinator's masks must be the relay's own (same experiment settings), or uploads would not fit. */
  private checkMasks(bytes: Uint8Array): void {
    if (!this.ownMasks) return;
    const c = this.config;
    const theirs = decodeMasks(bytes, { experiment: c.experiment }).body.masks;
    const ours = decodeMasks(this.ownMasks, { experiment: c.experiment }).body.masks;
    if (theirs.s !== ours.s || theirs.indices.some((ix, j) => ix.join() !== ours.indices[j]!.join())) {
      const e = new TinyProtoError('E_CONFIG', `the coordinator's class masks differ from relay "${this.relayId}"'s: start the relay with the coordinator's experiment settings (K, d, ratio, seed)`);
      this.logger.error(e.message, { code: e.code });
      this.emit('failure', e);
    }
  }

  private async onRound(bytes: Uint8Array): Promise<void> {
    const c = this.config;
    const r = decodeRound(bytes, { experiment: c.experiment });
    const round = r.header.round;
    if (round <= this.round) return; // a retained ROUND seen again (reconnect, restart)
    if (!this.sealed) await this.seal('superseded', `the coordinator announced round ${round}`);
    this.store.openRound(c.experiment, round, bytes, r.body.deadlineMs);
    this.store.setCurrentRound(c.experiment, round);
    this.round = round;
    this.selected = this.selectionOf(bytes);
    this.accepted = new Set();
    this.sums = emptySums(this.closeContext());
    this.bytesIn = 0;
    this.sealed = false;
    await this.transport.publishRetained('round', bytes);
    this.emit('roundOpened', { round, selected: [...this.selected], deadlineMs: r.body.deadlineMs, resumed: false } satisfies RoundOpened);
    this.armSeal(r.body.deadlineMs);
    await this.closeIfDone();
  }

  private armSeal(deadlineMs: number): void {
    if (this.sealTimer) clearTimeout(this.sealTimer);
    const round = this.round;
    const seal = async (): Promise<void> => {
      if (round !== this.round || this.sealed) return;
      await this.flush(false);
      if (round === this.round) await this.seal('deadline', `${this.marginMs} ms before the coordinator's deadline`);
    };
    this.sealTimer = setTimeout(() => void this.queue.push(seal), Math.max(0, deadlineMs - this.marginMs - this.now()));
    this.sealTimer.unref?.();
  }

  protected async closeIfDone(): Promise<void> {
    if (this.sealed || this.finished) return;
    const e = earlyClose({ selected: this.selected.size, accepted: this.accepted.size, offline: this.offline.gone(this.selected, this.accepted), minUploads: 1, closeAt: null, extensions: 0, maxExtensions: 0 });
    if (e) await this.seal(e.outcome, e.reason);
  }

  /** Seals the open round: its PARTIAL committed (before it is first sent), then sent. */
  private async seal(outcome: RoundSealed['outcome'], reason: string): Promise<void> {
    await this.flush(false);
    if (this.sealed) return;
    if (this.sealTimer) clearTimeout(this.sealTimer);
    const c = this.config;
    const round = this.round;
    let bytes: Uint8Array | null = null;
    if (this.sums.count > 0) {
      const fresh = encodePartial(
        { experiment: c.experiment, sender: this.relayId, round },
        // with its agents' training-sample counts, summed: what the coordinator's mu needs
        { K: c.numClasses, d: c.featureDim, s: this.valuesPerClass, layout: this.layout, classes: this.sums.parts(), agents: [...this.accepted], trainSamples: this.reported.summed() },
        this.signer ? { signer: this.signer, embedKey: true } : undefined,
      );
      // a round sealed again after a restart keeps the PARTIAL stored the first time
      this.store.partials.record(c.experiment, round, this.relayId, fresh, this.now());
      bytes = this.store.partials.get(c.experiment, round, this.relayId)!.bytes;
    }
    this.store.closeRound(c.experiment, round, null, { round, uploads: this.sums.count, selected: this.selected.size, outcome, reason });
    this.sealed = true;
    this.emit('sealed', { round, uploads: this.sums.count, selected: this.selected.size, outcome, reason, partialBytes: bytes?.length ?? 0 } satisfies RoundSealed);
    if (bytes) await this.sendPartial(round, bytes);
  }

  private async sendPartial(round: number, bytes: Uint8Array): Promise<void> {
    try {
      await this.upstream.publishPartial(bytes);
      this.emit('partialSent', { round, bytes: bytes.length });
    } catch (e) {
      this.logger.warn('partial not published; resent later', { round, code: errorCode(e), error: (e as Error).message });
    }
  }

  private async resendUnsettled(): Promise<void> {
    for (const p of this.store.partials.unsettled(this.config.experiment, this.relayId)) await this.sendPartial(p.round, p.bytes);
  }

  private onReceipt(bytes: Uint8Array): void {
    const c = this.config;
    const r = decodeReceipt(bytes, { experiment: c.experiment });
    if (r.body.agent !== this.relayId) return;
    const p = this.store.partials.get(c.experiment, r.header.round, this.relayId);
    if (!p || p.settledAt !== null || payloadCrc(p.bytes, peekHeader(p.bytes)) !== r.body.uploadCrc) return;
    this.store.partials.settle(c.experiment, r.header.round, this.relayId, this.now());
    const settled: PartialSettled = { round: r.header.round, outcome: r.body.outcome, code: r.body.code };
    if (r.body.outcome === 'rejected') this.logger.error('the coordinator refused this relay\'s partial sums: those uploads do not count', { ...settled });
    else this.logger.info('partial settled', { ...settled });
    this.emit('partialSettled', settled);
    this.finishIfDone();
  }

  private async onGlobal(bytes: Uint8Array): Promise<void> {
    const round = peekHeader(bytes, { experiment: this.config.experiment }).round;
    await this.transport.publishRetained('global', bytes);
    if (round >= this.lastGlobalRound) this.lastGlobal = bytes;
    this.lastGlobalRound = Math.max(this.lastGlobalRound, round);
    this.emit('global', { round });
    this.finishIfDone();
  }

  /** After the experiment's last round: its GLOBAL passed on and no PARTIAL left to settle. */
  private finishIfDone(): void {
    if (this.finished || this.lastGlobalRound < this.config.rounds || this.unsettledRounds().length > 0) return;
    this.finished = true;
    this.store.finishExperiment(this.config.experiment);
    this.emit('finished', { rounds: this.config.rounds });
    this.resolveDone();
  }
}
