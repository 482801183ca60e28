/**
 * The agent's configuration: one frozen defaults object; values come from a JSON file, then
 * TINYPROTO_* environment variables, then flags (later wins), and are validated in one place.
 */
import { readFileSync } from 'node:fs';
import { parsePublicKey } from '../wire/signature.ts';
import type { BrokerConnection } from '../mqtt/options.ts';
import { TinyProtoError } from '../common/errors.ts';
import { assertValidId } from '../wire/topics.ts';
import { fail, int, oneOf } from '../common/validate.ts';
import { mergeSetup, setupDefaults } from '../method/experiment.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import type { Family } from '../models/engine.ts';
import { BOARD_NAMES, isBoardName } from '../board/profiles.ts';
import { validateEngineSettings, type EngineChoice, type OrtProviderChoice, type TfjsBackendChoice } from '../learner/engine-settings.ts';

/** The agent's settings: its broker connection (mqtt/options.ts BrokerConnection) and: */
export interface AgentConfig extends BrokerConnection {
  /** Agent id: MQTT client id and username, and the sender of its messages. */
  readonly id: string;
  readonly experiment: string;
  /** Backbone family; null = the paper's assignment by client index. */
  readonly family: Family | null;
  /** Data source for the first start (later starts read the SQLite cache). */
  readonly dataDir: string | null;
  /** This agent's shard: client index among `clients`, Dirichlet alpha, partition seed, cap. */
  readonly client: number;
  readonly clients: number;
  readonly alpha: number;
  readonly seed: number;
  readonly samplesPerClient: number | null;
  /** d: must match the experiment's. */
  readonly featureDim: number;
  /** SQLite file. */
  readonly store: string;
  /** Training engine: 'auto' (= 'ort', ONNX Runtime) or 'tfjs' (TensorFlow.js). */
  readonly engine: EngineChoice;
  /** ort only: ONNX Runtime intra-op threads; 0 = auto (1 thread, learner/engine-settings.ts). */
  readonly threads: number;
  /**
   * ort only: worker threads each training batch is split over (learner/engine-settings.ts);
   * 0 = auto: 1 (AUTO_TRAIN_THREADS).
   */
  readonly trainThreads: number;
  /** ort only: execution provider; 'auto' = CUDA when available, else CPU. */
  readonly provider: OrtProviderChoice;
  /** tfjs only: the TensorFlow.js backend; auto picks tfjs-node when installed, else wasm. */
  readonly backend: TfjsBackendChoice;
  /** tfjs only: permit the pure-JS cpu backend. */
  readonly allowCpu: boolean;
  /** Board profile for energy estimates and sensor choice: a name (agent/energy BOARD_NAMES) or 'auto'. */
  readonly board: string;
  /** Reconnect backoff bounds. */
  readonly reconnectMinMs: number;
  readonly reconnectMaxMs: number;
  /** First resend of an upload without the aggregator's receipt, this long after the broker acknowledged it (doubles per send, up to 5 min). */
  readonly resendAfterMs: number;
  /** Warn after this long without any message from the aggregator (0 = never). */
  readonly silenceWarnMs: number;
  /** Ask the broker for the aggregator's retained messages again after this long without one (0 = never; doubles up to 10 min). */
  readonly catchUpMs: number;
  /** The aggregator's Ed25519 public key (hex); null = pin the key of the first signed message. */
  readonly aggregatorKey: string | null;
}

export const AGENT_DEFAULTS: AgentConfig = Object.freeze({
  id: 'agent-0',
  experiment: 'tinyproto-1',
  broker: 'mqtt://127.0.0.1:1883',
  username: null,
  password: null,
  caFile: null,
  certFile: null,
  keyFile: null,
  mqttVersion: 'auto',
  family: null,
  dataDir: null,
  client: 0,
  // the shard and d of the experiment setup (method/experiment.ts): the paper's by default
  ...setupDefaults('clients', 'alpha', 'seed', 'featureDim'),
  samplesPerClient: null,
  store: 'tinyproto-agent.db',
  engine: 'auto',
  threads: 0,
  trainThreads: 0,
  provider: 'auto',
  backend: 'auto',
  allowCpu: false,
  board: 'auto',
  reconnectMinMs: 500,
  reconnectMaxMs: 30_000,
  resendAfterMs: 20_000,
  silenceWarnMs: 60_000,
  catchUpMs: 60_000,
  aggregatorKey: null,
} satisfies AgentConfig);

/** Environment variable for each field: TINYPROTO_ plus the field in upper snake case. */
export function envName(field: string): string {
  return 'TINYPROTO_' + field.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase();
}

const NUMERIC: readonly (keyof AgentConfig)[] = ['client', 'clients', 'alpha', 'seed', 'samplesPerClient', 'featureDim', 'threads', 'trainThreads', 'reconnectMinMs', 'reconnectMaxMs', 'resendAfterMs', 'silenceWarnMs', 'catchUpMs'];

/** Converts string values (environment, flags) to the field's type. */
export function coerceAgentField(field: keyof AgentConfig, value: string): unknown {
  if (NUMERIC.includes(field)) {
    if (field === 'samplesPerClient' && (value === 'all' || value === '')) return null;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new TinyProtoError('E_CONFIG', `invalid ${field}: expected a number, got "${value}"`);
    return n;
  }
  if (field === 'allowCpu') return value === '1' || value === 'true';
  return value;
}

/** Fields from TINYPROTO_* environment variables. */
export function agentConfigFromEnv(env: NodeJS.ProcessEnv): Partial<AgentConfig> {
  const out: Record<string, unknown> = {};
  for (const field of Object.keys(AGENT_DEFAULTS) as (keyof AgentConfig)[]) {
    const v = env[envName(field)];
    if (v !== undefined) out[field] = coerceAgentField(field, v);
  }
  return out as Partial<AgentConfig>;
}

/** Fields from a JSON config file; errors name the file. */
export function agentConfigFromFile(path: string): Partial<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: cannot read the config file (${(e as Error).message})`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text) as unknown;
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: not a valid JSON config (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TinyProtoError('E_CONFIG', `${path}: not a valid JSON config (expected a JSON object)`);
  return v as Partial<AgentConfig>;
}

export function resolveAgentConfig(options: Partial<AgentConfig> = {}): AgentConfig {
  // clients, alpha, seed and featureDim are validated as the experiment setup's
  const c = mergeSetup(AGENT_DEFAULTS, options);
  assertValidId('agent', c.id);
  assertValidId('experiment', c.experiment);
  if (typeof c.broker !== 'string' || !/^(mqtts?|wss?):\/\/[^\s]+$/.test(c.broker)) fail('broker', 'must be an mqtt://, mqtts://, ws:// or wss:// URL', c.broker);
  oneOf('mqttVersion', c.mqttVersion, ['auto', '5', '3.1.1']);
  if (c.family !== null) oneOf('family', c.family, FAMILIES);
  int('client', c.client, 0, c.clients - 1);
  if (c.samplesPerClient !== null) int('samplesPerClient', c.samplesPerClient, 4);
  if (typeof c.store !== 'string' || c.store === '') fail('store', 'must be a file path (or :memory:)', c.store);
  validateEngineSettings(c, 'set allowCpu (--allow-cpu)');
  if (c.board !== 'auto' && !isBoardName(c.board)) fail('board', `must be auto or one of ${BOARD_NAMES.join(', ')}`, c.board);
  int('reconnectMinMs', c.reconnectMinMs, 10, 3_600_000);
  int('reconnectMaxMs', c.reconnectMaxMs, c.reconnectMinMs, 3_600_000);
  int('resendAfterMs', c.resendAfterMs, 100, 3_600_000);
  int('silenceWarnMs', c.silenceWarnMs, 0, 86_400_000);
  int('catchUpMs', c.catchUpMs, 0, 86_400_000);
  if (c.aggregatorKey !== null) parsePublicKey(c.aggregatorKey);
  if ((c.certFile === null) !== (c.keyFile === null)) fail('certFile', 'a client certificate needs its key (keyFile) and vice versa', c.certFile);
  return Object.freeze(c);
}
