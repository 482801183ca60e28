/** `tinyproto agent`: the on-board process. */
import { Agent, type RoundTrained } from '../agent/agent.ts';
import { AGENT_DEFAULTS, agentConfigFromEnv, agentConfigFromFile, envName, resolveAgentConfig, type AgentConfig } from '../agent/config.ts';
import { openAgentStore } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { agentSigner, signAgentFrame, signingAgentTransport } from '../agent/signing.ts';
import { AgentAuthenticity } from '../agent/authenticity.ts';
import { createEngine } from '../models/index.ts';
import { familyForClient } from '../models/zoo-info.ts';
import { connectionFailureLine } from '../mqtt/failures.ts';
import { isTinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { flagHelp, parseFlags, type FlagTable } from './flags.ts';
import { pct } from '../common/table.ts';
import { ENGINE_HELP, engineLabel, engineOptions } from '../learner/engine-settings.ts';

export const AGENT_FLAGS: FlagTable = {
  id: { field: 'id', type: 'string', help: `agent id = MQTT username (default ${AGENT_DEFAULTS.id}); client id {experiment}:{id}` },
  experiment: { field: 'experiment', type: 'string', help: `experiment id (default ${AGENT_DEFAULTS.experiment})` },
  broker: { field: 'broker', type: 'string', help: `broker URL, mqtt:// or mqtts:// (default ${AGENT_DEFAULTS.broker})` },
  username: { field: 'username', type: 'string', help: 'MQTT username (default: the agent id)' },
  password: { field: 'password', type: 'string', help: `MQTT password (prefer ${envName('password')} in the environment; default none)` },
  ca: { field: 'caFile', type: 'string', help: 'CA certificate (PEM) for mqtts:// (default none: the system CAs)' },
  cert: { field: 'certFile', type: 'string', help: 'client certificate (PEM), optional (default none)' },
  key: { field: 'keyFile', type: 'string', help: 'client key (PEM), optional (default none)' },
  'mqtt-version': { field: 'mqttVersion', type: 'string', help: `auto | 5 | 3.1.1 (default ${AGENT_DEFAULTS.mqttVersion}: tries 5, falls back)` },
  family: { field: 'family', type: 'string', help: 'backbone: resnet8 | mobilenetv2 | shufflenetv2 | efficientnet-lite (default: by client index)' },
  data: { field: 'dataDir', type: 'string', help: 'data directory for the first start (default /usr/share/datasets/fashion-mnist)' },
  client: { field: 'client', type: 'int', help: `this agent's shard index (0-based; default ${AGENT_DEFAULTS.client})` },
  clients: { field: 'clients', type: 'int', help: `number of shards the data set is split into (default ${AGENT_DEFAULTS.clients})` },
  alpha: { field: 'alpha', type: 'number', help: `Dirichlet label skew of the partition (default ${AGENT_DEFAULTS.alpha})` },
  seed: { field: 'seed', type: 'int', help: `partition and initialisation seed (default ${AGENT_DEFAULTS.seed})` },
  'samples-per-client': { field: 'samplesPerClient', type: 'int|null', help: 'cap on this shard\'s samples (default all)' },
  'feature-dim': { field: 'featureDim', type: 'int', help: `d, must match the experiment (default ${AGENT_DEFAULTS.featureDim})` },
  store: { field: 'store', type: 'string', help: `SQLite file (default ${AGENT_DEFAULTS.store})` },
  engine: { field: 'engine', type: 'string', help: `ort | tfjs | auto: ${ENGINE_HELP}` },
  threads: { field: 'threads', type: 'int', help: 'ort: ONNX Runtime intra-op threads of each training session (default 0 = auto: 1, measured fastest)' },
  'train-threads': { field: 'trainThreads', type: 'int', help: 'ort: worker threads each training batch is split over, each with its own session (default 0 = auto: 1; set N on a board with N cores free for training)' },
  provider: { field: 'provider', type: 'string', help: 'ort: auto | cpu | cuda execution provider (default auto: cuda when available, else cpu)' },
  backend: { field: 'backend', type: 'string', help: 'tfjs: auto | tensorflow | wasm | cpu (default auto: tfjs-node if installed, else wasm)' },
  'allow-cpu': { field: 'allowCpu', type: 'bool', help: 'tfjs: permit the pure-JS cpu backend (default off)' },
  'aggregator-key': { field: 'aggregatorKey', type: 'string', help: "the aggregator's public key (64 hex digits, from `tinyproto server --print-key`); default: pinned on first contact and kept in the store" },
};

export const AGENT_HELP = `Usage: tinyproto agent [--config FILE] [options]

The on-board agent: loads its data shard (cached in SQLite after the first start), trains its
backbone when the aggregator announces a round, uploads its sparse prototypes over MQTT, and
evaluates itself when global prototypes arrive. Runs until SIGINT/SIGTERM.

Settings come from --config FILE (JSON with the field names below), then environment variables
(TINYPROTO_ID, TINYPROTO_BROKER, TINYPROTO_PASSWORD, ... : TINYPROTO_ + field in upper snake case),
then flags.

  --config FILE            JSON config file (default none)
${flagHelp(AGENT_FLAGS)}
  -h, --help
`;

export function agentConfigFromArgs(argv: string[], env: NodeJS.ProcessEnv): { config: AgentConfig; help: boolean } {
  const { fields, extra } = parseFlags(argv, AGENT_FLAGS, { config: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (extra['help']) return { config: AGENT_DEFAULTS, help: true };
  const file = typeof extra['config'] === 'string' ? agentConfigFromFile(extra['config']) : {};
  return { config: resolveAgentConfig({ ...file, ...agentConfigFromEnv(env), ...(fields as Partial<AgentConfig>) }), help: false };
}

/** e.g. "2 training threads x 1 intra-op thread". */
export function ortThreadsText(threads: number, trainThreads: number): string {
  return `${trainThreads} training thread${trainThreads === 1 ? '' : 's'} x ${threads} intra-op thread${threads === 1 ? '' : 's'}`;
}

export async function runAgent(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const { config, help } = agentConfigFromArgs(argv, process.env);
  if (help) {
    out(AGENT_HELP);
    return 0;
  }
  const store = openAgentStore(config.store);
  const family = config.family ?? familyForClient(config.client);
  const engineOpts = engineOptions(config, logger);
  const engine = await createEngine(engineOpts);
  // the agent signs what it publishes (its last will too) with its own key, kept in its store, and
  // accepts from the aggregator only what the aggregator's key signed (configured, or pinned on
  // first contact)
  const signer = agentSigner(store);
  const will = signAgentFrame(Agent.willMessage(config, store.lastCompletedRound(config.experiment), family), signer);
  const transport = new MqttAgentTransport(config, will, logger);
  const authenticity = new AgentAuthenticity({ store, experiment: config.experiment, aggregatorKey: config.aggregatorKey, logger });
  const agent = new Agent({ config, store, transport: authenticity.wrap(signingAgentTransport(transport, signer)), engine, logger });
  authenticity.onDrop((d) => out(`${`[${config.id}]`} dropped a ${d.kind} message that the aggregator did not sign: ${d.code}`));
  const tag = `[${config.id}]`;
  out(`${tag} engine ${engineLabel(engine)}${engine.name === 'ort' ? ` (${ortThreadsText(engineOpts.threads ?? 1, engineOpts.trainThreads ?? 1)})` : ''}`);
  agent.on('trained', (t: RoundTrained) =>
    out(`${tag} round ${t.round}: trained in ${t.trainSeconds.toFixed(1)} s (loss ${t.loss.toFixed(4)}), ${t.classesHeld} classes, upload ${t.uploadBytes} B`),
  );
  agent.on('uploaded', (u: { round: number; attempts: number }) => out(`${tag} round ${u.round}: upload acknowledged by the broker (attempt ${u.attempts})`));
  agent.on('delivered', (u: { round: number; attempts: number; outcome: string; code: string }) =>
    out(`${tag} round ${u.round}: upload ${u.outcome === 'rejected' ? `rejected by the aggregator (${u.code})` : `committed by the aggregator (${u.outcome}, ${u.attempts} send(s))`}`),
  );
  agent.on('evaluated', (e: { round: number; accuracyHead: number; accuracyPrototype: number | null }) =>
    out(`${tag} round ${e.round}: accuracy head ${pct(e.accuracyHead)}, prototype ${pct(e.accuracyPrototype)}`),
  );
  agent.on('dropped', (d: { what: string; code: string }) => out(`${tag} dropped a ${d.what} message: ${d.code}`));
  await agent.start();

  let stopping = false;
  const stopped = new Promise<void>((resolve) => {
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      void (async () => {
        await agent.stop();
        await transport.close();
        await engine.close?.();
        store.close();
        resolve();
      })();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  // the session retries the first connection and every reconnect for ever (a board may boot
  // before the network or the broker; a password can be fixed on the broker): each failure is
  // logged (warn) by the session, and printed here when its cause changes, e.g.
  // "[agent-2] cannot connect: broker refused the credentials: ... (E_MQTT_AUTH)"
  let shown: string | null = null;
  transport.onConnectionError((e, info) => {
    if (e.code === shown) return;
    shown = e.code;
    out(`${tag} ${connectionFailureLine(e)}${info.retryInMs !== null ? `; retrying in ${(info.retryInMs / 1000).toFixed(1)} s` : '; retrying'}`);
  });
  transport.onConnect(() => {
    if (shown !== null) out(`${tag} connected again to ${config.broker}`);
    shown = null;
  });
  try {
    await transport.start();
    out(`${tag} connected to ${config.broker} (MQTT ${transport.protocolVersion === 5 ? '5' : '3.1.1'})`);
  } catch (e) {
    // only close() (SIGINT/SIGTERM while still connecting) or an unreadable TLS file end start()
    if (!(stopping && isTinyProtoError(e, 'E_NOT_CONNECTED'))) {
      logger.error('agent cannot start its MQTT session', { error: (e as Error).message });
      throw e;
    }
  }
  await stopped;
  return 0;
}
