/**
 * A local fleet on one machine: a broker (embedded aedes, or any MQTT URL such as a Mosquitto
 * with the fleet config), the aggregator in this process, and N agent processes with
 * heterogeneous backbones, each with its own SQLite store in the run directory.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { TinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { cliNodeArgs } from '../common/runtime.ts';
import type { Method } from '../method/method.ts';
import type { ValueType } from '../wire/codec-types.ts';
import { DEFAULT_DATA_DIR, SHARD_DEFAULTS, loadDataset, makeShards } from '../data/index.ts';
import { familyForClient } from '../models/zoo-info.ts';
import type { Family } from '../models/engine.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator, type RoundClosed, type UploadAccepted, type UploadRejected } from '../aggregator/aggregator.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from '../aggregator/signing.ts';
import { AgentAuthentication } from '../aggregator/authenticity.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { connectionFailureShort } from '../mqtt/failures.ts';
import { startDashboard, type Dashboard } from '../dashboard/server.ts';
import { readAgentEvaluations, type AgentEvaluation } from './evaluations.ts';
import { weightedAccuracy } from '../learner/eval.ts';
import { resolveEngineName, type EngineName } from '../models/index.ts';
import { threadsPerEngine, trainThreadsPerEngine, type EngineChoice, type OrtProviderChoice, type TfjsBackendChoice } from '../learner/engine-settings.ts';
import { FleetEmulation } from '../emulation/fleet-emulation.ts';

export interface FleetOptions {
  readonly agents: number;
  readonly rounds: number;
  /** 'embedded' starts aedes in this process; otherwise an mqtt:// or mqtts:// URL. */
  readonly broker: 'embedded' | string;
  readonly dir: string;
  readonly experiment: string;
  readonly method: Method;
  readonly alpha: number;
  readonly seed: number;
  readonly samplesPerClient: number | null;
  readonly dataDir: string | null;
  readonly featureDim: number;
  readonly ratio: number;
  readonly valueType: ValueType;
  readonly families: readonly Family[] | null;
  /** JSON file {"aggregator": "...", "agent-0": "..."} of MQTT passwords (make-fleet-credentials.sh writes one). */
  readonly credentials: string | null;
  /** CA certificate for mqtts:// brokers. */
  readonly caFile: string | null;
  readonly roundDeadlineMs: number;
  /** Every agent's training engine: 'auto' (= 'ort', ONNX Runtime; the default) or 'tfjs'. */
  readonly engine?: EngineChoice;
  /**
   * ort: ONNX Runtime intra-op threads of each agent; 0/absent = auto (AUTO_ORT_THREADS = 1),
   * since the agents share this machine's cores.
   */
  readonly threads?: number;
  /**
   * ort: training worker threads of each agent (learner/engine-settings.ts); 0/absent = auto
   * (AUTO_TRAIN_THREADS = 1).
   */
  readonly trainThreads?: number;
  /** ort: execution provider of every agent (absent = the agent's default, auto). */
  readonly provider?: OrtProviderChoice;
  /** tfjs only: every agent's TensorFlow.js backend. */
  readonly backend: TfjsBackendChoice;
  /** Port of the live web dashboard on 127.0.0.1 (0 = any free port); null/absent = none. */
  readonly dashboardPort?: number | null;
  /** Link profile of every agent's connection (emulation/link-profiles.ts, e.g. 'wifi-congested'); null/absent = direct. */
  readonly link?: string | null;
  /** Board every agent emulates (emulation/boards.ts): cgroup CPU quota and memory limit, energy profile; null/absent = none. */
  readonly board?: string | null;
  /** This machine's one-core training speed for the board quota, images/s; null/absent = measured at start. */
  readonly hostImagesPerSec?: number | null;
  /** Aggregator settings beyond the above (lambda, mu, participation, minUploads, ...; from the experiment file or flags). */
  readonly aggregator?: Partial<ExperimentConfig>;
}

export interface FleetHooks {
  readonly logger?: Logger;
  readonly onReady?: (info: {
    brokerUrl: string;
    agents: { id: string; family: Family; train: number; test: number }[];
    mu: number | null;
    /** The engine every agent was asked for ('ort' or 'tfjs', 'auto' resolved) and, for ort, its intra-op threads. */
    engine: EngineName;
    threads: number;
  }) => void;
  readonly onRound?: (r: RoundClosed) => void;
  readonly onRejected?: (r: UploadRejected) => void;
  readonly onAgentLine?: (agent: string, line: string) => void;
  /**
   * A fleet member (an agent id, or 'aggregator') cannot connect to the broker, e.g.
   * ('agent-2', 'cannot connect: broker refused the credentials (E_MQTT_AUTH)', 'E_MQTT_AUTH').
   * Called once per cause (again after the member connected in between); the member keeps retrying.
   */
  readonly onConnectionError?: (member: string, line: string, code: string) => void;
  readonly onDashboard?: (url: string) => void;
  readonly onUpload?: (u: UploadAccepted) => void;
  readonly onTelemetry?: (t: RoundTelemetry) => void;
  /** The aggregator itself, once started (tests use it to watch rounds open). */
  readonly onAggregator?: (a: Aggregator) => void;
  /** What the link and board emulation set up (or could not), one line each. */
  readonly onEmulation?: (lines: readonly string[]) => void;
}

export interface FleetRound extends RoundClosed {
  /** Test-size-weighted mean over the agents that evaluated this round. */
  readonly accuracyHead: number | null;
  readonly accuracyPrototype: number | null;
  readonly evaluatedBy: number;
}

export interface FleetResult {
  readonly dir: string;
  readonly brokerUrl: string;
  readonly rounds: readonly FleetRound[];
  readonly rejections: Record<string, number>;
  readonly evaluations: readonly AgentEvaluation[];
  readonly seconds: number;
  /** Per agent, what went through its link emulator (empty without --link). */
  readonly links: ReturnType<FleetEmulation['linkStats']>;
  /** Per agent in a board cgroup, its CPU throttling and peak memory (empty without --board or cgroups). */
  readonly boards: ReturnType<FleetEmulation['boardUsage']>;
}

const CLI = cliNodeArgs(); // compiled: dist/cli/main.js with plain node; from sources: cli/main.ts through tsx
/** Node flags for agent processes (also recommended on boards: NODE_OPTIONS=--max-semi-space-size=2). */
export const AGENT_NODE_FLAGS: readonly string[] = Object.freeze(['--max-semi-space-size=2']);

function readCredentials(path: string | null): Record<string, string> {
  if (path === null) return {};
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, string>;
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: cannot read the fleet credentials (${(e as Error).message})`);
  }
}

/** The round's accuracy over the agents that evaluated it (learner/eval.ts weightedAccuracy). */
function weighted(evals: readonly AgentEvaluation[], pick: (e: AgentEvaluation) => number | null): number | null {
  return weightedAccuracy(evals.map((e) => {
    const v = pick(e);
    return { count: e.testCount, correct: v === null ? null : v * e.testCount };
  }));
}

async function waitForEvaluations(paths: string[], experiment: string, round: number, children: ChildProcess[], timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const pending = paths.filter((p, i) => {
      const c = children[i];
      if (c && (c.exitCode !== null || c.signalCode !== null)) return false;
      return !readAgentEvaluations(p, '', experiment, round).some((e) => e.round === round);
    });
    if (pending.length === 0) return;
    await new Promise((r) => setTimeout(r, 300));
  }
}

/**
 * Surfaces a member's connection failures once per cause: from the aggregator's session, and
 * from an agent's output (the agent CLI prints `[id] cannot connect: WHAT: DETAIL (E_MQTT_...)`
 * or `[id] access denied: ...`
 * and `[id] connected ...`; mqtt/failures.ts connectionFailureLine).
 */
function connectionFailureWatcher(member: string, hooks: FleetHooks, logger: Logger): { failed(what: string, code: string): void; connected(): void; line(l: string): void } {
  let shown: string | null = null;
  const failed = (what: string, code: string): void => {
    if (code === shown) return;
    shown = code;
    const line = `${code === 'E_MQTT_ACL' ? 'access denied' : 'cannot connect'}: ${what} (${code})`;
    logger.warn(`${member}: ${line}`, { member, code });
    hooks.onConnectionError?.(member, line, code);
  };
  return {
    failed,
    connected: () => (shown = null),
    line: (l) => {
      const m = CANNOT_CONNECT.exec(l);
      if (m) failed(m[1]!.split(': ')[0]!, m[2]!);
      else if (/\] connected /.test(l)) shown = null;
    },
  };
}
const CANNOT_CONNECT = /(?:cannot connect|access denied): (.+) \((E_MQTT_[A-Z]+)\)/;

/** Agent ids of a fleet of n: agent-0 .. agent-(n-1). */
export function fleetAgentIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `agent-${i}`);
}

/**
 * The aggregator's experiment config of a fleet, for a data set of `numClasses` classes whose
 * shards hold `totalTrainSamples` training samples in all: the fleet's seed is the experiment
 * seed (class masks, selection) as it is the agents' (partition, initial weights), so the same
 * `--seed` gives the fleet the masks `simulate` uses.
 */
export function fleetExperimentConfig(opts: FleetOptions, numClasses: number, totalTrainSamples: number): ExperimentConfig {
  return resolveExperimentConfig({
    ...opts.aggregator,
    experiment: opts.experiment,
    method: opts.method,
    numClasses,
    featureDim: opts.featureDim,
    ratio: opts.ratio,
    totalTrainSamples: opts.aggregator?.totalTrainSamples ?? totalTrainSamples,
    rounds: opts.rounds,
    agents: fleetAgentIds(opts.agents),
    roundDeadlineMs: opts.roundDeadlineMs,
    valueType: opts.valueType,
    seed: opts.seed,
  });
}

export async function runFleet(opts: FleetOptions, hooks: FleetHooks = {}): Promise<FleetResult> {
  const logger = hooks.logger ?? silentLogger;
  const t0 = performance.now();
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const ids = fleetAgentIds(opts.agents);
  const creds = readCredentials(opts.credentials);

  // the same deterministic partition the agents carve their shards from: the fleet's total
  // training-set size is what mu 'auto' needs (no agent's class counts are involved)
  const ds = loadDataset(opts.dataDir ?? DEFAULT_DATA_DIR, 'all');
  const shards = makeShards(ds, {
    clients: opts.agents,
    alpha: opts.alpha,
    seed: opts.seed,
    minPerClient: SHARD_DEFAULTS.minPerClient,
    trainFraction: SHARD_DEFAULTS.trainFraction,
    ...(opts.samplesPerClient === null ? {} : { samplesPerClient: opts.samplesPerClient }),
  });
  const totalTrainSamples = shards.reduce((a, s) => a + s.train.length, 0);
  const families = opts.families ?? undefined;

  let broker: EmbeddedBroker | null = null;
  const children: ChildProcess[] = [];
  const store = openAggregatorStore(join(dir, 'aggregator.db'));
  let transport: MqttAggregatorTransport | null = null;
  let aggregator: Aggregator | null = null;
  let dashboard: Dashboard | null = null;
  let emulation: FleetEmulation | null = null;
  let links: FleetResult['links'] = [];
  let boards: FleetResult['boards'] = [];
  try {
    if (opts.broker === 'embedded') broker = await startEmbeddedBroker({ port: 0, logger });
    const brokerUrl = broker ? broker.url : opts.broker;
    const experiment = fleetExperimentConfig(opts, ds.numClasses, totalTrainSamples);
    transport = new MqttAggregatorTransport(
      experiment.experiment,
      {
        broker: brokerUrl,
        username: creds['aggregator'] !== undefined ? 'aggregator' : null,
        password: creds['aggregator'] ?? null,
        caFile: opts.caFile,
        certFile: null,
        keyFile: null,
        mqttVersion: 'auto',
      },
      logger,
    );
    const aggregatorFailures = connectionFailureWatcher('aggregator', hooks, logger);
    transport.onConnectionError((e) => aggregatorFailures.failed(connectionFailureShort(e), e.code));
    transport.onConnect(() => aggregatorFailures.connected());
    // the aggregator signs what it publishes; agents' keys are pinned on their first signed message
    const key = aggregatorSigningKey(store.keys);
    const auth = new AgentAuthentication({ store, experiment: experiment.experiment, agents: experiment.agents, logger });
    if (hooks.onRejected) auth.onRefused(hooks.onRejected);
    aggregator = new Aggregator({ config: experiment, store, transport: auth.wrap(signingAggregatorTransport(transport, key.signer)), logger });
    if (hooks.onRound) aggregator.on('roundClosed', hooks.onRound);
    if (hooks.onRejected) aggregator.on('rejected', hooks.onRejected);
    if (hooks.onUpload) aggregator.on('upload', hooks.onUpload);
    if (hooks.onTelemetry) aggregator.on('telemetry', hooks.onTelemetry);
    hooks.onAggregator?.(aggregator);
    if (opts.dashboardPort !== undefined && opts.dashboardPort !== null) {
      dashboard = await startDashboard({ aggregator, store, port: opts.dashboardPort, logger });
      hooks.onDashboard?.(dashboard.url);
    }
    await transport.start();
    await aggregator.start();
    const agentThreads = threadsPerEngine(opts.threads ?? 0);
    if ((opts.link ?? null) !== null || (opts.board ?? null) !== null) {
      emulation = await FleetEmulation.start({
        link: opts.link ?? null, board: opts.board ?? null, brokerUrl, agents: ids, tag: experiment.experiment,
        hostImagesPerSec: opts.hostImagesPerSec ?? null, threadsPerAgent: agentThreads, seed: opts.seed, logger,
      });
      hooks.onEmulation?.(emulation.lines);
    }
    hooks.onReady?.({
      brokerUrl,
      mu: aggregator.scale,
      engine: resolveEngineName(opts.engine),
      threads: agentThreads,
      agents: ids.map((id, i) => ({ id, family: familyForClient(i, families), train: shards[i]!.train.length, test: shards[i]!.test.length })),
    });

    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const args = [
        ...CLI, 'agent', '--id', id, '--experiment', experiment.experiment, '--broker', emulation?.brokerUrlFor(id) ?? brokerUrl,
        '--client', String(i), '--clients', String(opts.agents), '--alpha', String(opts.alpha), '--seed', String(opts.seed),
        '--samples-per-client', opts.samplesPerClient === null ? 'all' : String(opts.samplesPerClient),
        '--feature-dim', String(opts.featureDim), '--store', join(dir, `${id}.db`), '--family', familyForClient(i, families),
        '--engine', opts.engine ?? 'auto', '--threads', String(agentThreads), '--train-threads', String(trainThreadsPerEngine(opts.trainThreads)), '--backend', opts.backend,
        ...(opts.provider !== undefined ? ['--provider', opts.provider] : []),
        ...(opts.dataDir ? ['--data', opts.dataDir] : []),
        ...(opts.caFile ? ['--ca', opts.caFile] : []),
      ];
      const env = { ...process.env, ...emulation?.agentEnv(), ...(creds[id] !== undefined ? { TINYPROTO_PASSWORD: creds[id] } : {}) };
      // a small V8 young generation: an agent allocates little on the JS side, and the default
      // 16 MB semi-spaces were about 30 MB of a ResNet-8 agent's peak RSS (README, bench:train)
      const child = spawn(process.execPath, [...AGENT_NODE_FLAGS, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      children.push(child);
      emulation?.attach(id, child.pid);
      const failures = connectionFailureWatcher(id, hooks, logger);
      for (const stream of [child.stdout, child.stderr]) {
        createInterface({ input: stream }).on('line', (line) => {
          failures.line(line);
          hooks.onAgentLine?.(id, line);
        });
      }
      child.on('exit', (code, signal) => {
        if (code !== 0 && signal === null) logger.error('agent process exited', { agent: id, code });
      });
    }
    await aggregator.done;
    // let every agent evaluate the last global prototypes before it is stopped
    await waitForEvaluations(ids.map((id) => join(dir, `${id}.db`)), opts.experiment, opts.rounds, children, 120_000);
    // and send the telemetry of it to the aggregator
    const missing = await aggregator.awaitFinalTelemetry(15_000);
    if (missing.length > 0) logger.warn('no telemetry of the last round from some agents', { missing });
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((res) => {
            if (c.exitCode !== null || c.signalCode !== null) return res();
            const kill = setTimeout(() => c.kill('SIGKILL'), 30_000);
            c.once('exit', () => {
              clearTimeout(kill);
              res();
            });
            c.kill('SIGTERM');
          }),
      ),
    );
    links = emulation?.linkStats() ?? [];
    boards = emulation?.boardUsage() ?? [];
    await emulation?.close();
    await dashboard?.close();
    await aggregator?.stop();
    await transport?.close();
    await broker?.close();
  }
  const evaluations = ids.flatMap((id) => readAgentEvaluations(join(dir, `${id}.db`), id, opts.experiment, opts.rounds));
  const summaries = store.rounds(opts.experiment);
  const rounds: FleetRound[] = summaries
    .filter((r) => r.status === 'closed')
    .map((r) => {
      const evals = evaluations.filter((e) => e.round === r.round);
      const s = (r.summary ?? {}) as unknown as RoundClosed;
      return {
        ...s,
        accuracyHead: weighted(evals, (e) => e.accuracyHead),
        accuracyPrototype: weighted(evals, (e) => e.accuracyPrototype),
        evaluatedBy: evals.length,
      };
    });
  const rejections = store.rejectionCounts(opts.experiment);
  store.close();
  return { dir, brokerUrl: broker ? 'embedded' : opts.broker, rounds, rejections, evaluations, seconds: (performance.now() - t0) / 1000, links, boards };
}
