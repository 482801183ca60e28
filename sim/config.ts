/**
 * Simulation configuration: one frozen defaults object, merged with user options,
 * validated and clamped in one place (`resolveSimConfig`). Defaults are the paper's settings
 * (METHOD.md) except where this machine forces otherwise, which is said next to the field.
 */
import { fail, int, num, oneOf, rejectUnknown, mergeDefined } from '../common/validate.ts';
import { VALUE_TYPES, type ValueType } from '../wire/codec-types.ts';
import { BOARD_NAMES } from '../board/profiles.ts';
import type { Family } from '../models/engine.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import { SHARD_DEFAULTS } from '../data/partition.ts';
import { validateEngineSettings, type EngineChoice, type OrtProviderChoice, type TfjsBackendChoice } from '../learner/engine-settings.ts';

import { METHODS, type Method } from '../method/method.ts';

export { METHODS, type Method };

export interface SimConfig {
  readonly method: Method;
  /** N clients, all participating every round. */
  readonly clients: number;
  /** Dirichlet concentration of the label partition. */
  readonly alpha: number;
  readonly rounds: number;
  /** Cap on each client's samples (before the 75/25 split); null = all of its data. */
  readonly samplesPerClient: number | null;
  readonly minPerClient: number;
  readonly trainFraction: number;
  readonly seed: number;
  /** d */
  readonly featureDim: number;
  /** r: fraction of d kept per class (TinyProto). */
  readonly ratio: number;
  readonly lambda: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly localEpochs: number;
  /**
   * Server scaling constant mu (TinyProto): P_j = mu * sum_i n_ij p_ij. 'auto' sets
   * mu = muFactor * K / (total training samples), the paper's rule of thumb (mu ~ 0.65 / samples per class).
   */
  readonly mu: number | 'auto';
  readonly muFactor: number;
  /** Data directory (IDX or CIFAR-10 binary); null = the default Fashion-MNIST install. */
  readonly dataDir: string | null;
  /** Backbone families assigned by client id mod families.length. */
  readonly families: readonly Family[];
  /** Worker threads training clients in parallel; 0 = one per core. */
  readonly workers: number;
  /** Training engine: 'auto' (= 'ort', ONNX Runtime) or 'tfjs' (TensorFlow.js). */
  readonly engine: EngineChoice;
  /**
   * ort only: ONNX Runtime intra-op threads per worker's engine; 0 = auto (1 thread, measured
   * fastest; learner/engine-settings.ts), so the workers share the cores.
   */
  readonly threads: number;
  /** ort only: execution provider; 'auto' = CUDA when available, else CPU. */
  readonly provider: OrtProviderChoice;
  /** tfjs only: the TensorFlow.js backend; auto picks tfjs-node when installed, else wasm. */
  readonly backend: TfjsBackendChoice;
  /** tfjs only: permit the pure-JS cpu backend. */
  readonly allowCpu: boolean;
  readonly evalBatchSize: number;
  /** Encoding of prototype values on the wire (uploads and global prototypes). */
  readonly valueType: ValueType;
  /** Board profile each simulated client is modelled as, for energy estimates ('auto' = this machine). */
  readonly board: string;
}

export const SIM_DEFAULTS: SimConfig = Object.freeze({
  method: 'tinyproto',
  clients: 20,
  alpha: 0.1,
  rounds: 100,
  samplesPerClient: null,
  minPerClient: SHARD_DEFAULTS.minPerClient,
  trainFraction: SHARD_DEFAULTS.trainFraction,
  seed: 1,
  featureDim: 500,
  ratio: 0.1,
  lambda: 10,
  batchSize: 32,
  lr: 0.01,
  localEpochs: 1,
  mu: 'auto',
  muFactor: 0.65,
  dataDir: null,
  families: FAMILIES,
  workers: 0,
  engine: 'auto',
  threads: 0,
  provider: 'auto',
  backend: 'auto',
  allowCpu: false,
  evalBatchSize: 256,
  valueType: 'float32',
  board: 'auto',
} satisfies SimConfig);

/** Merge `options` over the defaults, validate every field, and freeze the result. */
export function resolveSimConfig(options: Partial<SimConfig> = {}): SimConfig {
  rejectUnknown(SIM_DEFAULTS, options);
  const c = mergeDefined(SIM_DEFAULTS, options);
  if (!METHODS.includes(c.method)) fail('method', `must be one of ${METHODS.join(', ')}`, c.method);
  int('clients', c.clients, 1, 10_000);
  num('alpha', c.alpha, 0, 1e6, { openMin: true });
  int('rounds', c.rounds, 1, 1_000_000);
  if (c.samplesPerClient !== null) int('samplesPerClient', c.samplesPerClient, 4);
  int('minPerClient', c.minPerClient, 2);
  if (c.samplesPerClient !== null && c.minPerClient > c.samplesPerClient) {
    fail('minPerClient', `must not exceed samplesPerClient (${c.samplesPerClient})`, c.minPerClient);
  }
  num('trainFraction', c.trainFraction, 0, 1, { openMin: true });
  if (c.trainFraction >= 1) fail('trainFraction', 'must leave a test split (< 1)', c.trainFraction);
  int('seed', c.seed, 0, 2 ** 32 - 1);
  int('featureDim', c.featureDim, 2, 65_536);
  num('ratio', c.ratio, 0, 1, { openMin: true });
  num('lambda', c.lambda, 0, 1e6);
  int('batchSize', c.batchSize, 2, 65_536);
  num('lr', c.lr, 0, 100, { openMin: true });
  int('localEpochs', c.localEpochs, 1, 10_000);
  if (c.mu !== 'auto') num('mu', c.mu, 0, 1e6, { openMin: true });
  num('muFactor', c.muFactor, 0, 1e6, { openMin: true });
  if (c.dataDir !== null && (typeof c.dataDir !== 'string' || c.dataDir === '')) fail('dataDir', 'must be a directory path', c.dataDir);
  if (!Array.isArray(c.families) || c.families.length === 0) fail('families', 'must list at least one family', c.families);
  for (const f of c.families) if (!FAMILIES.includes(f)) fail('families', `unknown family ${f}; known: ${FAMILIES.join(', ')}`, c.families);
  int('workers', c.workers, 0, 256);
  validateEngineSettings(c, 'pass allowCpu (--allow-cpu)');
  int('evalBatchSize', c.evalBatchSize, 1, 65_536);
  oneOf('valueType', c.valueType, VALUE_TYPES);
  if (c.board !== 'auto') oneOf('board', c.board, BOARD_NAMES);
  return Object.freeze({ ...c, families: Object.freeze([...c.families]) });
}
