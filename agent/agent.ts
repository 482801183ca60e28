/**
 * The on-board agent: trains its backbone on its private shard when a round is announced,
 * uploads its scaled sparse prototypes, keeps masks, global prototypes, checkpoints and an outbox
 * in SQLite, and evaluates itself when new global prototypes arrive. Transport and storage are
 * injected. Messages are handled one at a time, in arrival order; a bad message is logged with
 * its error code and dropped.
 *
 * Restart safety: an upload is written to the outbox (with the checkpoint and the round marked
 * complete) before it is published, and leaves the outbox only when the aggregator's RECEIPT says
 * it was committed (or refused); until then it is resent (./delivery.ts). A round is never
 * trained twice.
 */
import { EventEmitter } from 'node:events';
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { SerialQueue, settleWithin } from '../common/serial.ts';
import { expandGlobalPrototypes } from '../method/prototypes.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { decodeGlobal, decodeMasks, decodeRound, encodeStatus } from '../wire/codec.ts';
import { encodeRoundUpload } from './upload.ts';
import type { AgentState, RoundBody } from '../wire/codec-types.ts';
import type { Engine, Family } from '../models/engine.ts';
import { familyForClient } from '../models/zoo-info.ts';
import type { AgentConfig } from './config.ts';
import type { Learner } from '../learner/learner.ts';
import { createAgentLearner } from './agent-learner.ts';
import { engineLabel } from '../learner/engine-settings.ts';
import type { ClientEval, GlobalState } from '../learner/types.ts';
import { loadAgentData, type AgentData } from './shard.ts';
import { RoundRecorder, type EnergyMeterLike, type Phase } from './telemetry.ts';
import { createEnergyMeter, temperature } from '../board/index.ts';
import type { AgentStore } from './store.ts';
import { Delivery } from './delivery.ts';
import { SilenceWatch } from './silence.ts';
import { CatchUp } from './catch-up.ts';
import { Announcements } from './announcements.ts';
import type { AgentInbound, AgentOptions, AgentTransport, EvaluationRecord, RoundTrained } from './agent-types.ts';
import { isSelected } from '../method/selection.ts';

export type { AgentOptions, AgentTransport, EvaluationRecord, RoundTrained };

export class Agent extends EventEmitter {
  readonly config: AgentConfig;
  private readonly store: AgentStore;
  private readonly transport: AgentTransport;
  private readonly engine: Engine;
  private readonly logger: Logger;
  private readonly now: () => number;
  private data: AgentData | null = null;
  private learner: Learner | null = null;
  /** The learner's weights before any round, to fall back on when a round fails without a checkpoint. */
  private initialState: ReturnType<Learner['getState']> | null = null;
  private family: Family | null = null;
  private masks: ClassMasks | null = null;
  private global: { round: number; state: GlobalState } | null = null;
  /** A round announced before the masks arrived; handled when they do. */
  private waitingRound: Uint8Array | null = null;
  private stopping = false; // set by stop(): a round announced from then on is not taken up
  private readonly queue: SerialQueue;
  private readonly delivery: Delivery;
  private state: AgentState = 'offline';
  private energy: EnergyMeterLike | null;
  private recorder: RoundRecorder | null = null;
  /** Seconds the shard took to load at start; charged to the first round measured. */
  private dataLoadSeconds = 0;
  /** The round whose global prototypes the agent is waiting for, and since when (for telemetry). */
  private awaitingGlobal: { round: number; since: number } | null = null;
  private readonly silence: SilenceWatch;
  private readonly catchUp: CatchUp;
  private readonly announcements: Announcements;

  constructor(opts: AgentOptions) {
    super();
    this.config = opts.config;
    this.store = opts.store;
    this.transport = opts.transport;
    this.engine = opts.engine;
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.energy = opts.energy ?? null;
    this.delivery = new Delivery({
      experiment: this.config.experiment, agent: this.config.id, store: this.store, transport: this.transport, logger: this.logger,
      onUploaded: (u) => this.emit('uploaded', u),
      onDelivered: (u) => this.emit('delivered', u),
      resendAfterMs: this.config.resendAfterMs,
      now: this.now,
    });
    this.silence = new SilenceWatch({ experiment: this.config.experiment, broker: this.config.broker }, this.logger, (waitedMs) => this.emit('silent', { experiment: this.config.experiment, waitedMs }));
    this.announcements = new Announcements(this.config.experiment);
    this.catchUp = new CatchUp(this.config.catchUpMs, 600_000, this.transport.refresh?.bind(this.transport), this.logger);
    this.queue = new SerialQueue((e) => {
      this.logger.error('agent task failed', { code: errorCode(e), error: e instanceof Error ? e.message : String(e) });
      this.emit('failure', e);
    });
  }

  get numClasses(): number {
    return this.data?.meta.numClasses ?? 0;
  }

  get lastCompletedRound(): number {
    return this.store.lastCompletedRound(this.config.experiment);
  }

  /** The status message this agent's broker connection leaves as its last will. */
  static willMessage(config: AgentConfig, lastRound: number, family: string): Uint8Array {
    return encodeStatus(
      { experiment: config.experiment, sender: config.id, round: lastRound },
      { state: 'offline', timeMs: 0, lastRound, modelFamily: family, note: 'connection lost' },
    );
  }

  /** Loads data, model, checkpoint and saved messages; then starts handling messages. */
  async start(): Promise<void> {
    const c = this.config;
    const tLoad = this.now();
    this.data = loadAgentData(c, this.store, this.logger);
    this.dataLoadSeconds = (this.now() - tLoad) / 1000;
    this.energy ??= await createEnergyMeter({ board: c.board, logger: this.logger });
    const engine = this.engine;
    this.recorder = new RoundRecorder({
      energy: this.energy,
      engineMemory: () => {
        const m = engine.memory();
        return { numBytes: m.numBytes, numTensors: m.numTensors, ...(m.wasmHeapBytes !== undefined ? { wasmHeapBytes: m.wasmHeapBytes } : {}) };
      },
      wire: () => ({ bytesSent: this.transport.counters?.bytesSent ?? 0, bytesReceived: this.transport.counters?.bytesReceived ?? 0 }),
      temperature: () => temperature(),
      now: this.now,
    });
    this.family = c.family ?? familyForClient(c.client);
    const d = this.data;
    this.learner = createAgentLearner(this.engine, c, d, this.family);
    this.initialState = this.learner.getState();
    const ckpt = this.store.latestCheckpoint(c.experiment);
    if (ckpt) {
      try {
        this.learner.setState(ckpt.state);
        this.logger.info('resumed from checkpoint', { round: ckpt.round });
      } catch (e) {
        this.logger.error('checkpoint does not fit this model; starting from fresh weights', { code: errorCode(e), error: (e as Error).message });
      }
    }
    const masksBytes = this.store.loadMasks(c.experiment);
    if (masksBytes) this.safely('stored masks', () => this.acceptMasks(masksBytes, false));
    const g = this.store.latestGlobal(c.experiment);
    if (g) this.safely('stored global prototypes', () => this.acceptGlobal(g.bytes, false));
    this.logger.info('agent ready', {
      id: c.id,
      family: this.family,
      train: d.trainY.length,
      test: d.testY.length,
      fromCache: d.fromCache,
      lastCompletedRound: this.lastCompletedRound,
      engine: engineLabel(this.engine),
    });
    this.delivery.schedule = (task) => void this.queue.push(task);
    // noted on arrival, so that a burst of missed announcements supersedes its older rounds (./announcements.ts)
    this.transport.onMessage((kind, bytes) => (this.announcements.heard(kind, bytes), void this.queue.push(() => this.onMessage(kind, bytes))));
    this.transport.onDisconnect?.(() => this.delivery.disconnected());
    this.transport.onConnect(() => {
      this.delivery.connected();
      void this.queue.push(() => this.onConnect());
    });
    this.silence.start(this.config.silenceWarnMs);
    this.catchUp.arm();
  }

  /** Takes no new round, finishes the work in hand, announces itself offline (a clean disconnect
   * sends no last will), and frees the model. The caller owns and closes the transport and the store. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.delivery.close();
    this.silence.stop();
    this.catchUp.stop();
    const last = this.queue.push(() => this.setState('offline', 'stopped', 2_000));
    // after 5 s, close the transport: a publish the broker cannot acknowledge (gone) then fails
    await settleWithin(last, 5_000, 'stop').catch(() => this.transport.close());
    await this.queue.close();
    this.learner?.dispose();
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      this.logger.warn('message dropped', { what, code: errorCode(e), error: e instanceof Error ? e.message : String(e) });
      this.emit('dropped', { what, code: errorCode(e) });
    }
  }

  private async onConnect(): Promise<void> {
    await this.setState('online');
    await this.delivery.flushOutbox();
    await this.delivery.flushTelemetry();
    await this.setState('idle');
  }

  private async setState(state: AgentState, note = '', waitMs = Infinity): Promise<void> {
    this.state = state;
    const c = this.config;
    const bytes = encodeStatus(
      { experiment: c.experiment, sender: c.id, round: this.lastCompletedRound },
      { state, timeMs: this.now(), lastRound: this.lastCompletedRound, modelFamily: this.family ?? '', note },
    );
    try {
      await settleWithin(this.transport.publish('status', bytes, true), waitMs, `${state} status`);
    } catch (e) {
      this.logger.debug('status not published', { state, error: (e as Error).message });
    }
  }

  private async onMessage(kind: AgentInbound, bytes: Uint8Array): Promise<void> {
    if (kind === 'receipt') {
      this.safely('receipt', () => this.delivery.onReceipt(bytes));
      return;
    }
    this.silence.heardFrom();
    this.catchUp.heard();
    if (kind === 'masks') {
      this.safely('masks', () => this.acceptMasks(bytes, true));
      if (this.masks && this.waitingRound) {
        const r = this.waitingRound;
        this.waitingRound = null;
        await this.onRound(r);
      }
    } else if (kind === 'global') {
      let fresh = false;
      this.safely('global', () => (fresh = this.acceptGlobal(bytes, true)));
      if (!fresh || !this.global) return;
      // the round closed without a receipt for our upload: send it again to have it settled
      if (this.delivery.uploadPending(this.global.round)) await this.delivery.flushOutbox(this.global.round);
      const waited = this.awaitingGlobal;
      if (waited && waited.round === this.global.round) {
        this.awaitingGlobal = null;
        this.recorder?.add('waitGlobal', (this.now() - waited.since) / 1000);
        const ev = await this.timed('evaluate', () => this.evaluate(this.global!.round, this.global!.state));
        await this.finishTelemetry(ev);
      } else {
        await this.evaluate(this.global.round, this.global.state);
      }
    } else {
      await this.onRound(bytes);
    }
  }

  private acceptMasks(bytes: Uint8Array, save: boolean): void {
    const m = decodeMasks(bytes, { experiment: this.config.experiment, K: this.numClasses, d: this.config.featureDim });
    this.masks = m.body.masks;
    if (save) this.store.saveMasks(this.config.experiment, bytes);
  }

  /** Returns true when the message carried newer global prototypes than the agent had. */
  private acceptGlobal(bytes: Uint8Array, save: boolean): boolean {
    const g = decodeGlobal(bytes, { experiment: this.config.experiment, K: this.numClasses, d: this.config.featureDim });
    const round = g.header.round;
    if (this.global && round <= this.global.round) return false;
    const sparse = g.body.layout === 'sparse';
    if (sparse && !this.masks) throw new TinyProtoError('E_MASK', `global prototypes of round ${round} arrived before the class masks`);
    if (sparse && g.body.s !== this.masks!.s) throw new TinyProtoError('E_SHAPE', `global prototypes have ${g.body.s} values per class; the masks have ${this.masks!.s}`);
    const map = new Map(g.body.prototypes.map((p) => [p.classId, p.values]));
    const state = expandGlobalPrototypes(map, sparse ? this.masks : null, this.numClasses, this.config.featureDim);
    this.global = { round, state };
    if (save) this.store.saveGlobal(this.config.experiment, round, bytes);
    return true;
  }

  private timed<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
    return this.recorder ? this.recorder.time(phase, fn) : fn();
  }

  private async evaluate(round: number, global: GlobalState | null): Promise<EvaluationRecord> {
    const ev: ClientEval = await this.learner!.evaluate(round, global);
    const record = {
      round,
      testCount: ev.testCount,
      accuracyHead: ev.testCount ? ev.headCorrect / ev.testCount : 0,
      accuracyPrototype: ev.prototypeCorrect === null || !ev.testCount ? null : ev.prototypeCorrect / ev.testCount,
      at: this.now(),
    };
    this.store.saveEvaluation(this.config.experiment, record);
    this.emit('evaluated', record);
    return record;
  }

  /** Closes the round's measurements, keeps them in the store and sends them to the aggregator. */
  private async finishTelemetry(ev: EvaluationRecord | null): Promise<void> {
    if (!this.recorder || this.recorder.round === null) return;
    const c = this.config;
    const rec = await this.recorder.finish(
      { experiment: c.experiment, agent: c.id, family: this.family ?? '' },
      ev ? { head: ev.accuracyHead, prototype: ev.accuracyPrototype, testCount: ev.testCount } : null,
    );
    if (!rec) return;
    this.store.saveTelemetry(c.experiment, rec.round, rec);
    this.emit('telemetry', rec);
    await this.delivery.flushTelemetry();
  }

  private async onRound(bytes: Uint8Array): Promise<void> {
    const c = this.config;
    let announcement: { round: number; body: RoundBody };
    try {
      const m = decodeRound(bytes, { experiment: c.experiment });
      announcement = { round: m.header.round, body: m.body };
    } catch (e) {
      this.safely('round', () => {
        throw e;
      });
      return;
    }
    const { round, body } = announcement;
    if (this.stopping) return this.logger.info('stopping: round not taken up', { round });
    const done = this.lastCompletedRound;
    if (round <= done) {
      // a retained announcement seen again (reconnect, restart): make sure its upload went out
      if (this.delivery.uploadPending(round)) await this.delivery.flushOutbox();
      return;
    }
    if (this.superseded(round)) return;
    if (!isSelected(c.id, c.experiment, round, body)) {
      this.logger.info('not selected for this round', { round });
      this.emit('skipped', { round, reason: 'not selected' });
      return;
    }
    if (body.method === 'tinyproto' && !this.masks) {
      this.logger.info('round announced before the class masks arrived; waiting for them', { round });
      this.waitingRound = bytes;
      return;
    }
    if (round > done + 1 && done > 0) this.logger.warn('missed rounds skipped', { from: done + 1, to: round - 1 });
    await this.trainRound(round, body);
  }

  /** A round the aggregator has already moved past (./announcements.ts): skipped, not trained. */
  private superseded(round: number): boolean {
    const later = this.announcements.supersededBy(round);
    if (later === null) return false;
    this.logger.info('round already over: not trained', { round, supersededBy: later });
    this.emit('skipped', { round, reason: `superseded by ${later.by === 'round' ? `round ${later.round}` : `the global prototypes of round ${later.round}`}` });
    return true;
  }

  private async trainRound(round: number, body: RoundBody): Promise<void> {
    const c = this.config;
    const learner = this.learner!;
    await this.setState('training');
    if (this.superseded(round)) return this.setState('idle'); // heard while the status went out
    learner.configure({ method: body.method, lr: body.lr, lambda: body.lambda, batchSize: body.batchSize, localEpochs: body.localEpochs, masks: body.method === 'tinyproto' ? this.masks : null });
    this.recorder?.begin(round);
    if (this.dataLoadSeconds > 0) {
      this.recorder?.add('dataLoad', this.dataLoadSeconds);
      this.dataLoadSeconds = 0;
    }
    const global = body.method === 'local' ? null : this.global?.state ?? null;
    let up: Awaited<ReturnType<Learner['train']>>;
    try {
      up = await learner.train(round, global);
    } catch (e) {
      // a round that does not train (E_DIVERGED: the weights blew up) sends nothing; the weights
      // go back to the last round's checkpoint (or the initial ones), so the next round starts
      // from sound weights, and the status says so instead of staying 'training'
      this.recorder?.abort();
      const ckpt = this.store.latestCheckpoint(c.experiment);
      learner.setState(ckpt ? ckpt.state : this.initialState!);
      await this.setState('idle', `round ${round} not trained: ${errorCode(e)}`);
      throw e;
    }
    this.recorder?.add('train', up.trainSeconds);
    this.recorder?.add('prototypes', up.prototypeSeconds);
    const tEncode = this.now();
    const bytes = encodeRoundUpload({ experiment: c.experiment, agent: c.id, round, numClasses: this.numClasses, featureDim: c.featureDim, masks: this.masks, trainSamples: this.data!.trainY.length || null }, body, up.prototypes);
    this.recorder?.add('encode', (this.now() - tEncode) / 1000);
    // outbox, checkpoint and progress are committed before anything is sent
    this.store.enqueueUpload(c.experiment, round, bytes);
    // family and d with the weights: what `tinyproto export` needs to rebuild the model (the rest
    // of the spec, input shape and K, is in the cached shard's metadata)
    this.store.saveCheckpoint(c.experiment, round, learner.getState(), { family: this.family, featureDim: c.featureDim });
    this.store.setLastCompletedRound(c.experiment, round);
    const trained: RoundTrained = { round, classesHeld: up.classesHeld, uploadBytes: bytes.length, trainSeconds: up.trainSeconds, prototypeSeconds: up.prototypeSeconds, loss: up.train.loss };
    this.emit('trained', trained);
    await this.setState('uploading');
    await this.timed('upload', () => this.delivery.flushOutbox());
    if (body.method === 'local') {
      const ev = await this.timed('evaluate', () => this.evaluate(round, null));
      await this.finishTelemetry(ev);
    } else {
      this.awaitingGlobal = { round, since: this.now() };
    }
    await this.setState('idle');
  }
}
