/** `tinyproto agent`: the on-board process (one experiment, or long-lived for a fleet). */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { PROTOTYPE_EVAL_RULES } from '../method/experiment.ts';
import { AGENT_DEFAULTS, envName, type AgentConfig } from '../agent/config.ts';
import { AGENT_KEYS, loadAgentConfig } from '../agent/config-file.ts';
import { startExperimentAgent, type ExperimentRun } from '../agent/run-experiment.ts';
import { FleetSupervisor } from '../agent/supervisor.ts';
import { MqttFleetWatch } from '../agent/fleet-watch.ts';
import { openAgentStore } from '../agent/store.ts';
import { agentSigner } from '../agent/signing.ts';
import { connectionFailureLine } from '../mqtt/failures.ts';
import { isTinyProtoError, type TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { flagHelp, parseFlags, type FlagSpec, type FlagTable } from './flags.ts';
import { ENGINE_HELP, engineLabel, threadsPerEngine, trainThreadsPerEngine } from '../learner/engine-settings.ts';

type FlagDoc = Omit<FlagSpec, 'field'>;
/** Help and type of each flag; the flag names are the config file's keys (agent/config-file.ts AGENT_KEYS). */
const FLAG_DOCS: Readonly<Record<string, FlagDoc>> = {
  id: { type: 'string', help: `agent id = MQTT username (default ${AGENT_DEFAULTS.id}); client id {experiment}:{id}` },
  experiment: { type: 'string', help: `one experiment, configured in full (default ${AGENT_DEFAULTS.experiment}); leave it out with --fleet` },
  fleet: { type: 'string', help: 'fleet id: without --experiment, take part in every experiment announced to the fleet, in turn (default none)' },
  'state-dir': { type: 'string', help: `--fleet: directory of fleet.db and one {experiment}.db per experiment (default ${AGENT_DEFAULTS.stateDir})` },
  broker: { type: 'string', help: `broker URL, mqtt:// or mqtts:// (default ${AGENT_DEFAULTS.broker})` },
  username: { type: 'string', help: 'MQTT username (default: the agent id)' },
  password: { type: 'string', help: `MQTT password (prefer ${envName('password')} in the environment; default none)` },
  ca: { type: 'string', help: 'CA certificate (PEM) for mqtts:// (default none: the system CAs)' },
  cert: { type: 'string', help: 'client certificate (PEM), optional (default none)' },
  key: { type: 'string', help: 'client key (PEM), optional (default none)' },
  'mqtt-version': { type: 'string', help: `auto | 5 | 3.1.1 (default ${AGENT_DEFAULTS.mqttVersion}: tries 5, falls back)` },
  family: { type: 'string', help: 'backbone: resnet8 | mobilenetv2 | shufflenetv2 | efficientnet-lite (default: by client index; --fleet: as announced)' },
  data: { type: 'string', help: 'data directory for the first start (default /usr/share/datasets/fashion-mnist)' },
  datasets: { type: 'string', help: '--fleet: NAME=DIR[,NAME=DIR..]: where each announced data set lives on this board (default: all in --data)' },
  'data-source': { type: 'string', help: "auto | idx | cifar10 | image-folder (DIR/<class>/<image>.png, the board's own images, all of them its shard; default auto: detected)" },
  'image-shape': { type: 'string', help: `image-folder: HxWxC the images are converted to (default ${AGENT_DEFAULTS.imageShape})` },
  'image-classes': { type: 'list', help: 'image-folder: class names in label order (default: the folder names, sorted)' },
  client: { type: 'int', help: `this agent's shard index (0-based; default ${AGENT_DEFAULTS.client}; --fleet: as announced)` },
  clients: { type: 'int', help: `number of shards the data set is split into (default ${AGENT_DEFAULTS.clients}; --fleet: as announced)` },
  alpha: { type: 'number', help: `Dirichlet label skew of the partition (default ${AGENT_DEFAULTS.alpha}; --fleet: as announced)` },
  seed: { type: 'int', help: `partition and initialisation seed (default ${AGENT_DEFAULTS.seed}; --fleet: as announced)` },
  'samples-per-client': { type: 'int|null', help: "cap on this shard's samples (default all; --fleet: as announced)" },
  'feature-dim': { type: 'int', help: `d, must match the experiment (default ${AGENT_DEFAULTS.featureDim}; --fleet: as announced)` },
  'prototype-loss': { type: 'string', help: `full | masked: the prototype MSE over all d or over the class's mask (an option; default ${AGENT_DEFAULTS.prototypeLoss})` },
  'prototype-eval': { type: 'string', help: `${PROTOTYPE_EVAL_RULES.join(' | ')}: nearest-prototype evaluation rule (an option; default ${AGENT_DEFAULTS.prototypeEval})` },
  'clip-norm': { type: 'number', help: `scale each training step's gradient down to this global L2 norm when it is longer: a guard against runaway training (0 = off; default ${AGENT_DEFAULTS.clipNorm})` },
  'prototype-contrast': { type: 'number', help: `gamma of the prototype contrast: the cross-entropy of the nearest-prototype scores added to the local loss (an option; 0 = off; default ${AGENT_DEFAULTS.prototypeContrast})` },
  'prototype-scale': { type: 'string', help: `server | local: use the global prototypes at the server's scale, or rescaled to this agent's own class-mean norm (an option; default ${AGENT_DEFAULTS.prototypeScale})` },
  store: { type: 'string', help: `SQLite file (default ${AGENT_DEFAULTS.store}; --fleet: {state-dir}/{experiment}.db)` },
  engine: { type: 'string', help: `ort | tfjs | auto: ${ENGINE_HELP}` },
  threads: { type: 'int', help: 'ort: ONNX Runtime intra-op threads of each training session (default 0 = auto: 1, measured fastest)' },
  'train-threads': { type: 'int', help: 'ort: worker threads each training batch is split over, each with its own session (default 0 = auto: 1; set N on a board with N cores free for training)' },
  provider: { type: 'string', help: 'ort: auto | cpu | cuda execution provider (default auto: cuda when available, else cpu)' },
  backend: { type: 'string', help: 'tfjs: auto | tensorflow | wasm | cpu (default auto: tfjs-node if installed, else wasm)' },
  'allow-cpu': { type: 'bool', help: 'tfjs: permit the pure-JS cpu backend (default off)' },
  board: { type: 'string', help: 'board profile for energy estimates: auto or a profile name (default auto)' },
  'reconnect-min-ms': { type: 'int', help: `reconnect backoff, shortest (default ${AGENT_DEFAULTS.reconnectMinMs})` },
  'reconnect-max-ms': { type: 'int', help: `reconnect backoff, longest (default ${AGENT_DEFAULTS.reconnectMaxMs})` },
  'resend-after-ms': { type: 'int', help: `first resend of an upload without a receipt (default ${AGENT_DEFAULTS.resendAfterMs})` },
  'silence-warn-ms': { type: 'int', help: `warn after this long without the aggregator; 0 = never (default ${AGENT_DEFAULTS.silenceWarnMs})` },
  'catch-up-ms': { type: 'int', help: `ask again for retained messages after this long without one; 0 = never (default ${AGENT_DEFAULTS.catchUpMs})` },
  'aggregator-key': { type: 'string', help: "the aggregator's public key (64 hex digits, from `tinyproto server --print-key`); default: pinned on first contact and kept in the store" },
};

export const AGENT_FLAGS: FlagTable = Object.fromEntries(Object.entries(FLAG_DOCS).map(([flag, doc]) => [flag, { field: AGENT_KEYS[flag]!, ...doc }]));

export const AGENT_HELP = `Usage: tinyproto agent [--config FILE] [options]

The on-board agent: loads its data shard (cached in SQLite after the first start), trains its
backbone when the aggregator announces a round, uploads its sparse prototypes over MQTT, and
evaluates itself when global prototypes arrive. Runs until SIGINT/SIGTERM.

With --fleet F and no --experiment it is long-lived: configured once for the board, it waits for
the experiments the aggregator announces to fleet F (\`tinyproto server --fleet F\`), takes part in
each one that lists it (client index, partition, d and data set come with the announcement),
keeps each experiment's state in {state-dir}/{experiment}.db, and goes back to waiting when one ends.

Settings, later wins: defaults < --config FILE (TOML, e.g. /etc/tinyproto/agent.toml, or JSON
for .json; keys are the flag names below, plus a [datasets] table) < environment variables
(TINYPROTO_ + field in upper snake case: TINYPROTO_ID, TINYPROTO_FLEET, TINYPROTO_BROKER,
TINYPROTO_PASSWORD, TINYPROTO_STATE_DIR, ...) < flags. Unknown config keys are errors.

  --config FILE            config file (default none)
${flagHelp(AGENT_FLAGS)}
  -h, --help
`;

export function agentConfigFromArgs(argv: string[], env: NodeJS.ProcessEnv): { config: AgentConfig; help: boolean; mode: 'single' | 'fleet' } {
  const { fields, extra } = parseFlags(argv, AGENT_FLAGS, { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (extra['help']) return { config: AGENT_DEFAULTS, help: true, mode: 'single' };
  const { config, mode } = loadAgentConfig({ file: typeof extra['config'] === 'string' ? extra['config'] : null, env, flags: fields as Partial<AgentConfig> });
  return { config, help: false, mode };
}

/** e.g. "2 training threads x 1 intra-op thread". */
function ortThreadsText(threads: number, trainThreads: number): string {
  return `${trainThreads} training thread${trainThreads === 1 ? '' : 's'} x ${threads} intra-op thread${threads === 1 ? '' : 's'}`;
}

/** Prints a session's connection failures when their cause changes, and the reconnection after one. */
function printConnection(session: { onConnectionError(h: (e: TinyProtoError, info: { retryInMs: number | null }) => void): void; onConnect?(h: () => void): void }, tag: string, broker: string, out: (s: string) => void): void {
  // the session retries the first connection and every reconnect for ever (a board may boot
  // before the network or the broker; a password can be fixed on the broker): each failure is
  // logged (warn) by the session, and printed here when its cause changes, e.g.
  // "[agent-2] cannot connect: broker refused the credentials: ... (E_MQTT_AUTH)"
  let shown: string | null = null;
  session.onConnectionError((e, info) => {
    if (e.code === shown) return;
    shown = e.code;
    out(`${tag} ${connectionFailureLine(e)}${info.retryInMs !== null ? `; retrying in ${(info.retryInMs / 1000).toFixed(1)} s` : '; retrying'}`);
  });
  session.onConnect?.(() => {
    if (shown !== null) out(`${tag} connected again to ${broker}`);
    shown = null;
  });
}

/** Resolves on the first SIGINT or SIGTERM, after `stop` has run. */
function untilSignal(stop: () => Promise<void>): { stopped: Promise<void>; stopping: () => boolean } {
  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const onSignal = (): void => {
      if (stopping) return;
      stopping = true;
      void stop().then(resolve, resolve);
    };
    process.once('SIGINT', onSignal);
    process.once('SIGTERM', onSignal);
  });
  return { stopped, stopping: () => stopping };
}

export async function runAgent(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const { config, help, mode } = agentConfigFromArgs(argv, process.env);
  if (help) {
    out(AGENT_HELP);
    return 0;
  }
  return mode === 'fleet' ? runFleetAgent(config as AgentConfig & { fleet: string }, out, logger) : runSingleAgent(config, out, logger);
}

async function runSingleAgent(config: AgentConfig, out: (s: string) => void, logger: Logger): Promise<number> {
  const tag = `[${config.id}]`;
  const run = await startExperimentAgent(config, { logger, out });
  const { transport } = run;
  out(`${tag} engine ${engineLabel(run.engine)}${run.engine.name === 'ort' ? ` (${ortThreadsText(threadsPerEngine(config.threads), trainThreadsPerEngine(config.trainThreads))})` : ''}`);
  const signal = untilSignal(() => run.stop());
  printConnection(transport, tag, config.broker, out);
  try {
    await transport.start();
    out(`${tag} connected to ${config.broker} (MQTT ${transport.protocolVersion === 5 ? '5' : '3.1.1'})`);
  } catch (e) {
    // only close() (SIGINT/SIGTERM while still connecting) or an unreadable TLS file end start()
    if (!(signal.stopping() && isTinyProtoError(e, 'E_NOT_CONNECTED'))) {
      logger.error('agent cannot start its MQTT session', { error: (e as Error).message });
      throw e;
    }
  }
  await signal.stopped;
  return 0;
}

/** A long-lived agent (agent/supervisor.ts) with its real parts; `close()` stops it and closes fleet.db. */
export function createFleetAgent(config: AgentConfig & { fleet: string }, out: (s: string) => void, logger: Logger, opts: { resumeWaitMs?: number } = {}): { supervisor: FleetSupervisor; close(): Promise<void> } {
  const tag = `[${config.id}]`;
  mkdirSync(config.stateDir, { recursive: true });
  const fleetStore = openAgentStore(join(config.stateDir, 'fleet.db'));
  // one identity for the board across experiments: the aggregator of each sees the same key
  const signer = agentSigner(fleetStore);
  const supervisor = new FleetSupervisor({
    config,
    fleetStore,
    logger,
    ...(opts.resumeWaitMs !== undefined ? { resumeWaitMs: opts.resumeWaitMs } : {}),
    openWatch: (announcements) => {
      const w = new MqttFleetWatch(config, announcements, logger);
      printConnection(w, tag, config.broker, out);
      return w;
    },
    startExperiment: async (c, announcements) => {
      const run: ExperimentRun = await startExperimentAgent(c, { logger, out, signer, fleet: announcements });
      printConnection(run.transport, tag, c.broker, out);
      return { agent: run.agent, connect: () => run.transport.start(), stop: () => run.stop() };
    },
  });
  supervisor.on('waiting', () => out(`${tag} waiting for experiments of fleet "${config.fleet}" on ${config.broker}`));
  supervisor.on('started', (s: { experiment: string; config: AgentConfig }) =>
    out(`${tag} experiment "${s.experiment}": client ${s.config.client}/${s.config.clients}, d ${s.config.featureDim}, state ${s.config.store}`),
  );
  supervisor.on('finished', (f: { experiment: string }) => out(`${tag} experiment "${f.experiment}" ended`));
  supervisor.on('skipped', (f: { experiment: string }) => out(`${tag} experiment "${f.experiment}" does not list this agent`));
  supervisor.on('failed', (f: { experiment: string; code: string; message: string }) => out(`${tag} cannot take part in "${f.experiment}": ${f.message} (${f.code})`));
  supervisor.on('dropped', (d: { experiment: string | null; code: string }) => out(`${tag} dropped an experiment announcement: ${d.code}`));
  let closed: Promise<void> | null = null;
  return {
    supervisor,
    close: () =>
      (closed ??= (async () => {
        await supervisor.stop();
        fleetStore.close();
      })()),
  };
}

/** `--fleet F` without `--experiment`: the long-lived agent, until SIGINT/SIGTERM. */
async function runFleetAgent(config: AgentConfig & { fleet: string }, out: (s: string) => void, logger: Logger): Promise<number> {
  const fleet = createFleetAgent(config, out, logger);
  const signal = untilSignal(() => fleet.close());
  await fleet.supervisor.start();
  await signal.stopped;
  return 0;
}
