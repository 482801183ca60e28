/**
 * Simulation configuration: one frozen defaults object, merged with user options,
 * validated and clamped in one place (`resolveSimConfig`). The experiment setup (the paper's
 * settings, METHOD.md) and its validation come from method/experiment.ts; the rest is the
 * simulation's own.
 */
import { fail, int, num, oneOf } from '../common/validate.ts';
import { BOARD_NAMES } from '../board/profiles.ts';
import type { Family } from '../models/engine.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import { SHARD_DEFAULTS } from '../data/partition.ts';
import { validateEngineSettings, type EngineChoice, type OrtProviderChoice, type TfjsBackendChoice } from '../learner/engine-settings.ts';

import { METHODS, type Method } from '../method/method.ts';
import { PROTOTYPE_SCALES, type PrototypeScale } from '../method/prototype-scale.ts';
import { PROTOTYPE_AGGREGATIONS, type PrototypeAggregation } from '../method/aggregate.ts';
import { assertValidId } from '../wire/topics.ts';
import { IMPROVEMENT_FIELDS, mergeSetup, setupDefaults, type ExperimentSetup } from '../method/experiment.ts';
import { checkTiming, type SimTiming } from './timing.ts';

export { METHODS, type Method };

/** The setup fields the simulation takes (K comes from its data set). */
const SIM_SETUP_FIELDS = ['method', 'clients', 'alpha', 'rounds', 'seed', 'featureDim', 'ratio', 'lambda', 'batchSize', 'lr', 'localEpochs', 'mu', 'muFactor', 'valueType', ...IMPROVEMENT_FIELDS] as const;
type SimSetup = Pick<ExperimentSetup, (typeof SIM_SETUP_FIELDS)[number]>;

/** The experiment setup (method/experiment.ts: method, clients, alpha, rounds, seed, d, r, lambda, ...) plus: */
export interface SimConfig extends SimSetup {
  /** Cap on each client's samples (before the 75/25 split); null = all of its data. */
  readonly samplesPerClient: number | null;
  readonly minPerClient: number;
  readonly trainFraction: number;
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
  /**
   * ort only: worker threads each client's training batch is split over (learner/engine-settings.ts);
   * 0 = auto: 1 (AUTO_TRAIN_THREADS).
   */
  readonly trainThreads: number;
  /** ort only: execution provider; 'auto' = CUDA when available, else CPU. */
  readonly provider: OrtProviderChoice;
  /** tfjs only: the TensorFlow.js backend; auto picks tfjs-node when installed, else wasm. */
  readonly backend: TfjsBackendChoice;
  /** tfjs only: permit the pure-JS cpu backend. */
  readonly allowCpu: boolean;
  readonly evalBatchSize: number;
  /** Board profile each simulated client is modelled as, for energy estimates ('auto' = this machine). */
  readonly board: string;
  /** Evaluate every this many rounds, and always the last one (long runs: evaluation costs). */
  readonly evalEvery: number;
  /**
   * Stop early when this many evaluations in a row improved neither the best head nor the best
   * prototype accuracy by more than `plateauDelta` (0 = never stop early).
   */
  readonly plateau: number;
  /** Improvement that counts, as a fraction (0.002 = 0.2 points). */
  readonly plateauDelta: number;
  /** SQLite file the run's checkpoint is written to after every round (null = none). */
  readonly checkpoint: string | null;
  /** Continue from `checkpoint` when it holds a run of the same setup. */
  readonly resume: boolean;
  /**
   * Fraction of the clients that train and upload each round (at least one), chosen by the
   * selection rule the aggregator announces (method/selection.ts) for experiment `experiment`
   * and agent ids agent-0..agent-(N-1), so a simulation and a fleet of one experiment file agree
   * on who takes part in which round. Every client evaluates every evaluated round.
   */
  readonly participation: number;
  /** The experiment id the selection hashes (a fleet's --experiment). */
  readonly experiment: string;
  /** 'server': global prototypes as received (the paper); 'local': at each client's own scale (method/prototype-scale.ts). */
  readonly prototypeScale: PrototypeScale;
  /** TinyProto: 'scaled' = adaptive prototype scaling (the paper), 'mean' = without it (method/aggregate.ts). */
  readonly prototypeAggregation: PrototypeAggregation;
  /**
   * Simulated links and boards, churn and the aggregator's round rules (sim/timing.ts); absent =
   * none: every selected client uploads in time and rounds have no simulated time.
   */
  readonly timing?: SimTiming;
}

export const SIM_DEFAULTS: SimConfig = Object.freeze({
  ...setupDefaults(...SIM_SETUP_FIELDS),
  samplesPerClient: null,
  minPerClient: SHARD_DEFAULTS.minPerClient,
  trainFraction: SHARD_DEFAULTS.trainFraction,
  dataDir: null,
  families: FAMILIES,
  workers: 0,
  engine: 'auto',
  threads: 0,
  trainThreads: 0,
  provider: 'auto',
  backend: 'auto',
  allowCpu: false,
  evalBatchSize: 256,
  board: 'auto',
  evalEvery: 1,
  plateau: 0,
  plateauDelta: 0.002,
  checkpoint: null,
  resume: false,
  prototypeScale: 'server',
  prototypeAggregation: 'scaled',
  participation: 1,
  experiment: 'sim',
} satisfies SimConfig);

/** Merge `options` over the defaults, validate every field, and freeze the result. */
export function resolveSimConfig(options: Partial<SimConfig> = {}): SimConfig {
  const { timing, ...rest } = options;
  const c = mergeSetup(SIM_DEFAULTS, rest);
  if (c.samplesPerClient !== null) int('samplesPerClient', c.samplesPerClient, 4);
  int('minPerClient', c.minPerClient, 2);
  if (c.samplesPerClient !== null && c.minPerClient > c.samplesPerClient) {
    fail('minPerClient', `must not exceed samplesPerClient (${c.samplesPerClient})`, c.minPerClient);
  }
  num('trainFraction', c.trainFraction, 0, 1, { openMin: true });
  if (c.trainFraction >= 1) fail('trainFraction', 'must leave a test split (< 1)', c.trainFraction);
  if (c.dataDir !== null && (typeof c.dataDir !== 'string' || c.dataDir === '')) fail('dataDir', 'must be a directory path', c.dataDir);
  if (!Array.isArray(c.families) || c.families.length === 0) fail('families', 'must list at least one family', c.families);
  for (const f of c.families) if (!FAMILIES.includes(f)) fail('families', `unknown family ${f}; known: ${FAMILIES.join(', ')}`, c.families);
  if (c.method === 'fedavg' && new Set(c.families).size !== 1) fail('families', 'fedavg averages weights, so every client needs one architecture: give one family (e.g. --families resnet8)', c.families);
  int('workers', c.workers, 0, 256);
  validateEngineSettings(c, 'pass allowCpu (--allow-cpu)');
  int('evalBatchSize', c.evalBatchSize, 1, 65_536);
  if (c.board !== 'auto') oneOf('board', c.board, BOARD_NAMES);
  int('evalEvery', c.evalEvery, 1, 100_000);
  int('plateau', c.plateau, 0, 100_000);
  num('plateauDelta', c.plateauDelta, 0, 1);
  if (c.checkpoint !== null && (typeof c.checkpoint !== 'string' || c.checkpoint === '')) fail('checkpoint', 'must be a file path', c.checkpoint);
  oneOf('prototypeScale', c.prototypeScale, PROTOTYPE_SCALES);
  oneOf('prototypeAggregation', c.prototypeAggregation, PROTOTYPE_AGGREGATIONS);
  num('participation', c.participation, 0, 1, { openMin: true });
  assertValidId('experiment', c.experiment);
  if (c.resume && c.checkpoint === null) fail('resume', 'needs a checkpoint file (--checkpoint FILE)', c.resume);
  return Object.freeze({ ...c, families: Object.freeze([...c.families]), ...(timing !== undefined ? { timing: checkTiming(timing, c.clients, c.participation) } : {}) });
}
