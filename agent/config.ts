/**
 * The agent's configuration: one frozen defaults object; values come from a config file (TOML,
 * or JSON; agent/config-file.ts), then TINYPROTO_* environment variables, then flags (later
 * wins: defaults < file < env < flags), and are validated here, in one place.
 */
import { PROTOTYPE_SCALES, type PrototypeScale } from '../method/prototype-scale.ts';
import { join } from 'node:path';
import { parsePublicKey } from '../wire/signature.ts';
import type { BrokerConnection } from '../mqtt/options.ts';
import { TinyProtoError } from '../common/errors.ts';
import { assertValidId, isValidId } from '../wire/topics.ts';
import { fail, int, oneOf } from '../common/validate.ts';
import { mergeSetup, setupDefaults, type PrototypeEvalRule, type PrototypeSupport } from '../method/experiment.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import type { Family } from '../models/engine.ts';
import { BOARD_NAMES, isBoardName } from '../board/profiles.ts';
import { DATA_SOURCES, parseImageShape, type DataSource } from '../data/index.ts';
import { validateEngineSettings, type EngineChoice, type OrtProviderChoice, type TfjsBackendChoice } from '../learner/engine-settings.ts';

/** The agent's settings: its broker connection (mqtt/options.ts BrokerConnection) and: */
export interface AgentConfig extends BrokerConnection {
  /** Agent id: MQTT client id and username, and the sender of its messages. */
  readonly id: string;
  readonly experiment: string;
  /**
   * Fleet this board belongs to: with a fleet and no experiment the agent is long-lived and takes
   * part in every experiment the aggregator announces to the fleet (agent/supervisor.ts).
   */
  readonly fleet: string | null;
  /** Directory of the long-lived agent's state: fleet.db and one {experiment}.db per experiment. */
  readonly stateDir: string;
  /** Data set name (as announced) -> directory on this board; unnamed data sets use dataDir. */
  readonly datasets: Readonly<Record<string, string>>;
  /** Backbone family; null = the paper's assignment by client index. */
  readonly family: Family | null;
  /** Data source for the first start (later starts read the SQLite cache). */
  readonly dataDir: string | null;
  /** Its format: 'auto' (detected), 'idx', 'cifar10' or 'image-folder' (the board's own DIR/<class>/<image>.png, used whole as its shard). */
  readonly dataSource: DataSource;
  /** image-folder only: the shape its images are converted to ("HxWxC", C = 1 or 3) and the classes in label order (null = the folder names, sorted). */
  readonly imageShape: string;
  readonly imageClasses: readonly string[] | null;
  /** This agent's shard: client index among `clients`, Dirichlet alpha, partition seed, cap. */
  readonly client: number;
  readonly clients: number;
  readonly alpha: number;
  readonly seed: number;
  readonly samplesPerClient: number | null;
  /** d: must match the experiment's. */
  readonly featureDim: number;
  /** Improvement options of this agent's learner (method/experiment.ts; defaults = the paper's method). */
  readonly prototypeLoss: PrototypeSupport;
  readonly prototypeEval: PrototypeEvalRule;
  /** gamma of the prototype contrast (method/prototype-contrast.ts); 0 = off. */
  readonly prototypeContrast: number;
  /** Gradient clipping: each step's gradient scaled down to this global L2 norm (method/experiment.ts clipNorm); 0 = off. */
  readonly clipNorm: number;
  /** 'local': rescale each received global prototype to this agent's own class-mean norm (method/prototype-scale.ts; tinyproto-plus's third part). */
  readonly prototypeScale: PrototypeScale;
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
  fleet: null,
  stateDir: '.',
  datasets: Object.freeze({}),
  broker: 'mqtt://127.0.0.1:1883',
  username: null,
  password: null,
  caFile: null,
  certFile: null,
  keyFile: null,
  mqttVersion: 'auto',
  family: null,
  dataDir: null,
  dataSource: 'auto',
  imageShape: '28x28x1',
  imageClasses: null,
  client: 0,
  // the shard and d of the experiment setup (method/experiment.ts): the paper's by default
  ...setupDefaults('clients', 'alpha', 'seed', 'featureDim', 'prototypeLoss', 'prototypeEval', 'prototypeContrast', 'clipNorm'),
  prototypeScale: 'server',
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

const NUMERIC: readonly (keyof AgentConfig)[] = ['client', 'clients', 'alpha', 'seed', 'samplesPerClient', 'featureDim', 'prototypeContrast', 'clipNorm', 'threads', 'trainThreads', 'reconnectMinMs', 'reconnectMaxMs', 'resendAfterMs', 'silenceWarnMs', 'catchUpMs'];

/** Converts string values (environment, flags) to the field's type. */
export function coerceAgentField(field: keyof AgentConfig, value: string): unknown {
  if (NUMERIC.includes(field)) {
    if (field === 'samplesPerClient' && (value === 'all' || value === '')) return null;
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n)) throw new TinyProtoError('E_CONFIG', `invalid ${field}: expected a number, got "${value}"`);
    return n;
  }
  if (field === 'allowCpu') return value === '1' || value === 'true';
  if (field === 'datasets') return parseDatasetList(value);
  if (field === 'imageClasses') return value.trim() === '' ? null : value.split(',').map((v) => v.trim()).filter(Boolean);
  return value;
}

/** "name=dir,name=dir" (TINYPROTO_DATASETS, --datasets) as a datasets table. */
export function parseDatasetList(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of value.split(',').map((p) => p.trim()).filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    if (eq <= 0 || eq === part.length - 1) throw new TinyProtoError('E_CONFIG', `invalid datasets: expected name=directory[,name=directory...], got "${part}"`);
    out[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return out;
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

export function resolveAgentConfig(options: Partial<AgentConfig> = {}): AgentConfig {
  // clients, alpha, seed and featureDim are validated as the experiment setup's
  const c = mergeSetup(AGENT_DEFAULTS, options);
  assertValidId('agent', c.id);
  assertValidId('experiment', c.experiment);
  for (const f of ['username', 'password', 'caFile', 'certFile', 'keyFile', 'dataDir', 'fleet', 'aggregatorKey', 'family'] as const) {
    if (c[f] !== null && (typeof c[f] !== 'string' || c[f] === '')) fail(f, 'must be a non-empty string', c[f]);
  }
  if (c.fleet !== null) assertValidId('fleet', c.fleet);
  if (typeof c.stateDir !== 'string' || c.stateDir === '') fail('stateDir', 'must be a directory path', c.stateDir);
  if (typeof c.datasets !== 'object' || c.datasets === null || Array.isArray(c.datasets)) fail('datasets', 'must be a table of data set name = directory', c.datasets);
  for (const [name, dir] of Object.entries(c.datasets)) {
    if (!isValidId(name)) fail('datasets', `data set name "${name}" must be 1 to 32 characters from A-Z a-z 0-9 . _ -`, c.datasets);
    if (typeof dir !== 'string' || dir === '') fail('datasets', `the directory of "${name}" must be a non-empty string`, c.datasets);
  }
  if (typeof c.broker !== 'string' || !/^(mqtts?|wss?):\/\/[^\s]+$/.test(c.broker)) fail('broker', 'must be an mqtt://, mqtts://, ws:// or wss:// URL', c.broker);
  oneOf('mqttVersion', c.mqttVersion, ['auto', '5', '3.1.1']);
  if (c.family !== null) oneOf('family', c.family, FAMILIES);
  oneOf('dataSource', c.dataSource, DATA_SOURCES);
  oneOf('prototypeScale', c.prototypeScale, PROTOTYPE_SCALES);
  parseImageShape(c.imageShape);
  if (c.imageClasses !== null && (!Array.isArray(c.imageClasses) || c.imageClasses.some((x) => typeof x !== 'string'))) fail('imageClasses', 'must be a list of class names', c.imageClasses);
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
  return Object.freeze({ ...c, datasets: Object.freeze({ ...c.datasets }) });
}

/** Where a long-lived agent keeps one experiment's state: {stateDir}/{experiment}.db. */
export function experimentStorePath(stateDir: string, experiment: string): string {
  return join(stateDir, `${experiment}.db`);
}

/** The directory of data set `name` on this board: its datasets entry, else dataDir (null = the default). */
export function datasetDir(c: Pick<AgentConfig, 'datasets' | 'dataDir'>, name: string): string | null {
  return c.datasets[name] ?? c.dataDir;
}
