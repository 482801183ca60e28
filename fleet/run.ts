/**
 * A local fleet on one machine: a broker (embedded aedes, or any MQTT URL such as a Mosquitto
 * with the fleet config), the aggregator in this process, and N agent processes with
 * heterogeneous backbones, each with its own SQLite store in the run directory.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { cliNodeArgs } from '../common/runtime.ts';
import { DEFAULT_DATA_DIR, SHARD_DEFAULTS, loadDataset, makeShards } from '../data/index.ts';
import { familyForClient } from '../models/zoo-info.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator, type RoundClosed, type RoundOpened } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from '../aggregator/signing.ts';
import { AgentAuthentication } from '../aggregator/authenticity.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { connectionFailureShort } from '../mqtt/failures.ts';
import { startDashboard, type Dashboard } from '../dashboard/server.ts';
import { readAgentEvaluations, readAgentUploads, type AgentEvaluation } from './evaluations.ts';
import { weightedAccuracy } from '../learner/eval.ts';
import { resolveEngineName } from '../models/index.ts';
import { threadsPerEngine, trainThreadsPerEngine } from '../learner/engine-settings.ts';
import { FleetEmulation, needsEmulation } from '../emulation/fleet-emulation.ts';
import { agentIds, fleetPlan, type AgentPlan } from '../method/fleet-plan.ts';
import { AgentProcesses, type AgentProcessSpec } from './agents.ts';
import { FleetChurn } from './churn.ts';
import { PARTICIPATION_FILE, crashOutcomes, participation } from './participation.ts';
import { selectParticipants } from '../method/selection.ts';
import type { FleetHooks, FleetOptions, FleetResult, FleetRound } from './types.ts';

export type { FleetOptions, FleetHooks, FleetRound, FleetResult } from './types.ts';

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

async function waitForEvaluations(paths: string[], experiment: string, round: number, running: (i: number) => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const pending = paths.filter((p, i) => running(i) && !readAgentEvaluations(p, '', experiment, round).some((e) => e.round === round));
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

/** Agent ids of a fleet of n: agent-0 .. agent-(n-1) (method/fleet-plan.ts agentIds). */
export const fleetAgentIds = agentIds;

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

/** The fleet's agent plans: `opts.plans`, or every agent on the fleet-wide link and board (E_CONFIG when they do not match `agents`). */
export function fleetPlans(opts: Pick<FleetOptions, 'agents' | 'plans' | 'link' | 'board'>): readonly AgentPlan[] {
  const plans = opts.plans ?? fleetPlan({ agents: opts.agents, groups: null, link: opts.link ?? null, board: opts.board ?? null });
  const ids = agentIds(opts.agents);
  if (plans.length !== opts.agents || plans.some((p, i) => p.id !== ids[i] || p.index !== i)) {
    throw new TinyProtoError('E_CONFIG', `the fleet's plans name ${plans.length} agents (${plans.map((p) => p.id).join(', ')}); expected agent-0 .. agent-${opts.agents - 1}`, { field: 'plans' });
  }
  return plans;
}

export async function runFleet(opts: FleetOptions, hooks: FleetHooks = {}): Promise<FleetResult> {
  const logger = hooks.logger ?? silentLogger;
  const t0 = performance.now();
  const dir = resolve(opts.dir);
  mkdirSync(dir, { recursive: true });
  const plans = fleetPlans(opts);
  const ids = plans.map((p) => p.id);
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
  let agents: AgentProcesses | null = null;
  let churn: FleetChurn | null = null;
  let config: ExperimentConfig | null = null;
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
    config = experiment;
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
    if (needsEmulation(plans)) {
      emulation = await FleetEmulation.start({
        agents: plans, brokerUrl, tag: experiment.experiment,
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

    const specs: AgentProcessSpec[] = ids.map((id, i) => ({
      id,
      // a small V8 young generation: an agent allocates little on the JS side, and the default
      // 16 MB semi-spaces were about 30 MB of a ResNet-8 agent's peak RSS (README, bench:train)
      args: [
        ...AGENT_NODE_FLAGS, ...CLI, 'agent', '--id', id, '--experiment', experiment.experiment, '--broker', emulation?.brokerUrlFor(id) ?? brokerUrl,
        '--client', String(i), '--clients', String(opts.agents), '--alpha', String(opts.alpha), '--seed', String(opts.seed),
        '--samples-per-client', opts.samplesPerClient === null ? 'all' : String(opts.samplesPerClient),
        '--feature-dim', String(opts.featureDim), '--store', join(dir, `${id}.db`), '--family', familyForClient(i, families),
        '--engine', opts.engine ?? 'auto', '--threads', String(agentThreads), '--train-threads', String(trainThreadsPerEngine(opts.trainThreads)), '--backend', opts.backend,
        ...(opts.provider !== undefined ? ['--provider', opts.provider] : []),
        ...(opts.dataDir ? ['--data', opts.dataDir] : []),
        ...(opts.caFile ? ['--ca', opts.caFile] : []),
      ],
      env: { ...process.env, ...emulation?.agentEnv(id), ...(creds[id] !== undefined ? { TINYPROTO_PASSWORD: creds[id] } : {}) },
    }));
    const failures = new Map(ids.map((id) => [id, connectionFailureWatcher(id, hooks, logger)] as const));
    const procs = new AgentProcesses({
      specs,
      logger,
      onStart: (id, pid) => emulation?.attach(id, pid),
      onLine: (id, line) => {
        failures.get(id)?.line(line);
        churn?.agentLine(id, line);
        hooks.onAgentLine?.(id, line);
      },
    });
    agents = procs;
    // the churn schedule (offline rounds, crashes mid-upload) follows the aggregator's rounds
    const ch = new FleetChurn({ plans, rounds: opts.rounds, processes: procs, now: () => performance.now() - t0, logger, ...(hooks.onChurn ? { onEvent: hooks.onChurn } : {}) });
    churn = ch;
    aggregator.on('roundClosed', (r: RoundClosed) => ch.roundClosed(r.round));
    aggregator.on('roundOpened', (r: RoundOpened) => ch.roundOpened(r.round));
    ch.begin(Math.max(1, store.getExperiment(experiment.experiment)?.currentRound ?? 1));
    await aggregator.done;
    await ch.settle(30_000); // a restart after a crash in the last round
    // let every agent evaluate the last global prototypes before it is stopped
    await waitForEvaluations(ids.map((id) => join(dir, `${id}.db`)), opts.experiment, opts.rounds, (i) => procs.isRunning(ids[i]!), 120_000);
    // and send the telemetry of it to the aggregator
    const missing = await aggregator.awaitFinalTelemetry(15_000);
    if (missing.length > 0) logger.warn('no telemetry of the last round from some agents', { missing });
  } finally {
    await churn?.close();
    await agents?.stopAll(30_000);
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
  const churnEvents = churn?.events ?? [];
  const facts = {
    plans,
    rounds: summaries.map((r) => ({ round: r.round, outcome: r.status === 'closed' ? ((r.summary ?? {}) as { outcome?: string }).outcome ?? null : null })),
    selected: (round: number) => (config ? selectParticipants(config.agents, config.participation, config.experiment, round).selected : []),
    uploaded: (round: number) => store.uploadsFor(opts.experiment, round).map((u) => u.agent),
    outbox: ids.flatMap((id) => readAgentUploads(join(dir, `${id}.db`), id, opts.experiment)),
    churn: churnEvents,
    exits: churn?.exits ?? [],
  };
  const part = participation(facts);
  const crashes = crashOutcomes(facts);
  // for `tinyproto report` (report/load.ts reads it next to aggregator.db)
  writeFileSync(join(dir, PARTICIPATION_FILE), JSON.stringify({ experiment: opts.experiment, churn: churnEvents, participation: part, crashes }, null, 1));
  store.close();
  return { dir, brokerUrl: broker ? 'embedded' : opts.broker, rounds, rejections, evaluations, seconds: (performance.now() - t0) / 1000, links, boards, churn: churnEvents, participation: part, crashes };
}
