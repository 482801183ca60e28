/**
 * The long-lived agent (`tinyproto agent --fleet F`, no --experiment): configured once for the
 * board, it waits on its fleet's retained EXPERIMENT announcements (PROTOCOL.md §3.9) and, for
 * each open experiment that assigns it a client index, builds that experiment's agent config
 * from the announcement and runs the Agent (agent/run-experiment.ts) until the announcement says
 * ended; then it goes back to waiting. Experiments run one at a time, in the order announced.
 *
 * State: `{stateDir}/fleet.db` holds the board's signing key (one identity across experiments),
 * the aggregator key pinned for the fleet (meta `aggregatorKey/fleet:{fleet}`), the experiment in
 * progress (`fleet/current`) and the ended ones (`fleet/ended/{experiment}`). Each experiment has
 * its own SQLite file, `{stateDir}/{experiment}.db` (shard cache, checkpoints, outbox, pinned
 * key): one file per experiment because a store caches exactly one data shard, and an ended
 * experiment's file can be exported or deleted by itself. A restarted agent resumes the
 * experiment in progress from its file before any other.
 */
import { EventEmitter } from 'node:events';
import { existsSync } from 'node:fs';
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { SerialQueue } from '../common/serial.ts';
import { assignmentOf, decodeExperiment, type DataSourceKind, type ExperimentBody } from '../wire/codec.ts';
import { detectFormat } from '../data/index.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import { AgentAuthenticity } from './authenticity.ts';
import { datasetDir, experimentStorePath, resolveAgentConfig, type AgentConfig } from './config.ts';
import type { AgentStore } from './store.ts';
import type { FleetAnnouncements } from './transport.ts';
import type { FleetWatch } from './fleet-watch.ts';

/** What the supervisor needs of a running experiment (agent/run-experiment.ts ExperimentRun). */
export interface RunningExperiment {
  readonly agent: { idle(): Promise<void>; readonly numClasses: number };
  /** Starts the experiment's connection (retries for ever; stop() ends it). */
  connect(): Promise<void>;
  stop(): Promise<void>;
}

export interface SupervisorOptions {
  /** The board's settings (fleet mode: fleet set, experiment fields unused). */
  config: AgentConfig & { readonly fleet: string };
  /** `{stateDir}/fleet.db`; the caller opens and closes it. */
  fleetStore: AgentStore;
  /** The waiting connection; a new one each time the agent goes back to waiting. */
  openWatch(announcements: FleetAnnouncements): FleetWatch;
  /** Builds and starts one experiment's agent; its connection carries the fleet's announcements too. */
  startExperiment(config: AgentConfig, announcements: FleetAnnouncements): Promise<RunningExperiment>;
  logger?: Logger;
  /** After a restart, how long to wait for the announcement of the experiment in progress before starting another (default 3000). */
  resumeWaitMs?: number;
  now?: () => number;
}

const CURRENT = 'fleet/current';
const endedKey = (e: string): string => `fleet/ended/${e}`;

/** Checks that this build can load the announced data source kind from `dir` (E_DATA_SOURCE otherwise). */
/** The agent's data source for an announced kind (an image folder is the board's own images, all of them its shard). */
export function dataSourceOf(kind: DataSourceKind): 'idx' | 'cifar10' | 'image-folder' {
  return kind === 'cifar' ? 'cifar10' : kind === 'image-folder' ? 'image-folder' : 'idx';
}

export function checkDataSource(experiment: string, kind: DataSourceKind, dir: string | null, storeExists: boolean): void {
  if (storeExists || dir === null) return; // the shard is cached, or the default directory is checked when carving
  const format = detectFormat(dir);
  const want = dataSourceOf(kind);
  if (format !== want) throw new TinyProtoError('E_DATA_SOURCE', `experiment "${experiment}" announces ${kind === 'cifar' ? 'a' : 'an'} ${kind} data set, but ${dir} holds ${format} files`, { kind, dir, format });
}

export class FleetSupervisor extends EventEmitter {
  private readonly opts: SupervisorOptions;
  private readonly logger: Logger;
  private readonly queue: SerialQueue;
  private readonly authenticity: AgentAuthenticity;
  /** Open experiments announced and not yet run, in arrival order. */
  private readonly pending = new Map<string, ExperimentBody>();
  /** Experiments looked at and passed over in this process (not assigned, or failed). */
  private readonly passed = new Set<string>();
  private running: { experiment: string; run: RunningExperiment } | null = null;
  private watch: FleetWatch | null = null;
  private stopped = false;
  private readonly startedAt: number;
  private resumeTimer: NodeJS.Timeout | null = null;
  private readonly announcements: FleetAnnouncements;

  constructor(opts: SupervisorOptions) {
    super();
    this.opts = opts;
    this.logger = opts.logger ?? silentLogger;
    this.startedAt = (opts.now ?? Date.now)();
    this.queue = new SerialQueue((e) => {
      this.logger.error('fleet supervisor task failed', { code: errorCode(e), error: e instanceof Error ? e.message : String(e) });
      this.emit('failure', e);
    });
    this.authenticity = new AgentAuthenticity({ store: opts.fleetStore, experiment: `fleet:${opts.config.fleet}`, aggregatorKey: opts.config.aggregatorKey, logger: this.logger });
    this.authenticity.onDrop((d) => this.emit('dropped', { experiment: null, code: d.code }));
    this.announcements = { fleet: opts.config.fleet, onAnnouncement: (experiment, bytes) => void this.queue.push(() => this.onAnnouncement(experiment, bytes)) };
  }

  /** The experiment being run, or null while waiting. */
  get current(): string | null {
    return this.running?.experiment ?? null;
  }

  /** Whether an experiment is recorded as ended in the fleet store. */
  hasEnded(experiment: string): boolean {
    return this.opts.fleetStore.getMeta(endedKey(experiment)) !== null;
  }

  /** The experiment recorded as in progress (survives restarts), or null. */
  private inProgress(): string | null {
    const v = this.opts.fleetStore.getMeta(CURRENT);
    return v === null || v === '' ? null : v;
  }

  /** Starts waiting for announcements (the connection retries for ever; stop() ends it). */
  async start(): Promise<void> {
    const resumeWait = this.opts.resumeWaitMs ?? 3000;
    if (this.inProgress() !== null && resumeWait > 0) {
      this.resumeTimer = setTimeout(() => void this.queue.push(() => this.next()), resumeWait);
      this.resumeTimer.unref?.();
    }
    await this.queue.push(() => this.openWatch());
  }

  /** Resolves when everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops the experiment in hand (it resumes on the next start) and the waiting connection. */
  async stop(): Promise<void> {
    if (this.resumeTimer) clearTimeout(this.resumeTimer);
    await this.queue.push(async () => {
      this.stopped = true;
      const r = this.running;
      this.running = null;
      await r?.run.stop();
      await this.closeWatch();
    });
    await this.queue.close();
  }

  private async openWatch(): Promise<void> {
    if (this.stopped || this.watch !== null) return;
    const w = this.opts.openWatch(this.announcements);
    this.watch = w;
    this.emit('waiting', {});
    w.start().catch((e: unknown) => this.logger.debug('fleet connection ended before connecting', { error: (e as Error).message }));
  }

  private async closeWatch(): Promise<void> {
    const w = this.watch;
    this.watch = null;
    await w?.close();
  }

  private async onAnnouncement(experiment: string, bytes: Uint8Array): Promise<void> {
    if (this.stopped) return;
    if (bytes.length === 0) return this.ended(experiment, 'cleared'); // a cleared retained topic
    if (!this.authenticity.accept('experiment', bytes)) return;
    let body: ExperimentBody;
    try {
      body = decodeExperiment(bytes, { experiment }).body;
      if (body.fleet !== this.opts.config.fleet) throw new TinyProtoError('E_EXPERIMENT', `announcement of "${experiment}" is for fleet "${body.fleet}", not "${this.opts.config.fleet}"`);
    } catch (e) {
      this.logger.warn('experiment announcement dropped', { experiment, code: errorCode(e), error: (e as Error).message });
      this.emit('dropped', { experiment, code: errorCode(e) });
      return;
    }
    if (body.state === 'ended') return this.ended(experiment, 'ended');
    if (this.hasEnded(experiment) || this.passed.has(experiment) || this.running?.experiment === experiment) return;
    this.pending.set(experiment, body);
    await this.next();
  }

  /**
   * The experiment ended (signed announcement): record it, and finish it if it is the one running.
   * A cleared topic (a zero-length retained publish, which nobody signs) only drops a pending
   * experiment: the one running ends only when the aggregator says so.
   */
  private async ended(experiment: string, how: 'ended' | 'cleared'): Promise<void> {
    this.pending.delete(experiment);
    const r = this.running;
    if (how === 'cleared' && r?.experiment === experiment) {
      this.logger.warn('announcement of the running experiment cleared; it runs until the aggregator marks it ended', { experiment });
      return;
    }
    if (r?.experiment === experiment) {
      await r.run.agent.idle();
      await r.run.stop();
      this.running = null;
      this.logger.info('experiment finished; waiting for the next', { experiment, how });
      this.emit('finished', { experiment, how });
    }
    if (how === 'ended' && !this.hasEnded(experiment)) this.opts.fleetStore.setMeta(endedKey(experiment), String((this.opts.now ?? Date.now)()));
    if (this.inProgress() === experiment) this.opts.fleetStore.setMeta(CURRENT, '');
    if (this.running === null) {
      await this.openWatch();
      await this.next();
    }
  }

  /** Starts the next pending experiment when none runs (the one in progress before a restart first). */
  private async next(): Promise<void> {
    if (this.stopped || this.running !== null || this.pending.size === 0) return;
    const inProgress = this.inProgress();
    const waitForIt = inProgress !== null && !this.pending.has(inProgress) && !this.hasEnded(inProgress) && !this.passed.has(inProgress);
    if (waitForIt && (this.opts.now ?? Date.now)() - this.startedAt < (this.opts.resumeWaitMs ?? 3000)) return;
    const experiment = inProgress !== null && this.pending.has(inProgress) ? inProgress : this.pending.keys().next().value!;
    const body = this.pending.get(experiment)!;
    this.pending.delete(experiment);
    const assigned = assignmentOf(body, this.opts.config.id);
    if (assigned === null) {
      this.passed.add(experiment);
      this.logger.info('experiment announced without this agent', { experiment });
      this.emit('skipped', { experiment, reason: 'not assigned' });
      return this.next();
    }
    let config: AgentConfig;
    let run: RunningExperiment;
    try {
      config = this.experimentConfig(experiment, body, assigned);
      checkDataSource(experiment, body.source, datasetDir(this.opts.config, body.dataset), existsSync(config.store));
      this.opts.fleetStore.setMeta(CURRENT, experiment);
      await this.closeWatch();
      run = await this.opts.startExperiment(config, this.announcements);
      if (run.agent.numClasses !== body.numClasses) {
        await run.stop();
        throw new TinyProtoError('E_SHAPE', `data set "${body.dataset}" on this board has ${run.agent.numClasses} classes; experiment "${experiment}" announces ${body.numClasses}`);
      }
    } catch (e) {
      this.passed.add(experiment);
      if (this.inProgress() === experiment) this.opts.fleetStore.setMeta(CURRENT, '');
      this.logger.error('cannot take part in the experiment', { experiment, code: errorCode(e), error: (e as Error).message });
      this.emit('failed', { experiment, code: errorCode(e), message: (e as Error).message });
      await this.openWatch();
      return this.next();
    }
    this.running = { experiment, run };
    this.logger.info('experiment started', { experiment, client: config.client, clients: config.clients, store: config.store });
    this.emit('started', { experiment, config });
    run.connect().catch((e: unknown) => this.logger.debug('experiment connection ended before connecting', { error: (e as Error).message }));
  }

  /** The per-experiment agent config: the board's settings plus what the announcement says. */
  private experimentConfig(experiment: string, body: ExperimentBody, assigned: { client: number; family: string | null }): AgentConfig {
    const base = this.opts.config;
    if (assigned.family !== null && !(FAMILIES as readonly string[]).includes(assigned.family)) {
      throw new TinyProtoError('E_CONFIG', `experiment "${experiment}" assigns family "${assigned.family}", which this agent build does not have (${FAMILIES.join(', ')})`);
    }
    return resolveAgentConfig({
      ...base,
      experiment,
      client: assigned.client,
      clients: body.clients,
      alpha: body.alpha,
      seed: body.seed,
      samplesPerClient: body.samplesPerClient,
      featureDim: body.featureDim,
      family: assigned.family as AgentConfig['family'],
      dataDir: datasetDir(base, body.dataset),
      // image-shape and image-classes stay the board's own settings; K must match the experiment's
      dataSource: dataSourceOf(body.source),
      store: experimentStorePath(base.stateDir, experiment),
      // the key the fleet's announcements verified against signs the experiment's messages too
      aggregatorKey: this.authenticity.aggregatorKey ?? base.aggregatorKey,
    });
  }
}
