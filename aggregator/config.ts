/**
 * The aggregator's experiment configuration: one frozen defaults object, merged, validated and
 * clamped in `resolveExperimentConfig`. Learning settings default to the paper's (METHOD.md).
 */
import type { Method } from '../method/method.ts';
import { VALUE_TYPES, type ValueType } from '../wire/codec-types.ts';
import { METHODS } from '../method/method.ts';
import { assertValidId } from '../wire/topics.ts';
import { muFromTotals } from '../method/aggregate.ts';
import { participantsPerRound } from '../method/selection.ts';
import { fail, int, mergeDefined, num, oneOf, rejectUnknown } from '../common/validate.ts';


export interface ExperimentConfig {
  /** Experiment id: appears in every topic and message header. */
  readonly experiment: string;
  readonly method: Method;
  /** K */
  readonly numClasses: number;
  /** d */
  readonly featureDim: number;
  /** r (TinyProto) */
  readonly ratio: number;
  /** Seed of the class masks (recorded with the experiment). */
  readonly maskSeed: number;
  /** P_j = mu * sum_i n_ij p_ij; 'auto' = muFactor * K / totalTrainSamples. */
  readonly mu: number | 'auto';
  readonly muFactor: number;
  /** Total training samples across the fleet; needed only for mu 'auto'. */
  readonly totalTrainSamples: number | null;
  readonly lambda: number;
  readonly lr: number;
  readonly batchSize: number;
  readonly localEpochs: number;
  readonly rounds: number;
  /** Agent ids allowed to upload; uploads from anyone else are rejected. */
  readonly agents: readonly string[];
  /** Fraction of the agents selected each round (at least one). */
  readonly participation: number;
  /** How long a round waits for uploads. */
  readonly roundDeadlineMs: number;
  /** Uploads needed to close a round at its deadline; with fewer the deadline is extended. */
  readonly minUploads: number;
  /** Value encoding of uploads and global prototypes on the wire. */
  readonly valueType: ValueType;
  /** Seed for participant selection. */
  readonly seed: number;
}

export const EXPERIMENT_DEFAULTS: ExperimentConfig = Object.freeze({
  experiment: 'tinyproto-1',
  method: 'tinyproto',
  numClasses: 10,
  featureDim: 500,
  ratio: 0.1,
  maskSeed: 1,
  mu: 'auto',
  muFactor: 0.65,
  totalTrainSamples: null,
  lambda: 10,
  lr: 0.01,
  batchSize: 32,
  localEpochs: 1,
  rounds: 100,
  agents: Object.freeze([]) as readonly string[],
  participation: 1,
  roundDeadlineMs: 10 * 60 * 1000,
  minUploads: 1,
  valueType: 'float32',
  seed: 1,
} satisfies ExperimentConfig);

export function resolveExperimentConfig(options: Partial<ExperimentConfig> = {}): ExperimentConfig {
  rejectUnknown(EXPERIMENT_DEFAULTS, options);
  const c = mergeDefined(EXPERIMENT_DEFAULTS, options);
  assertValidId('experiment', c.experiment);
  oneOf('method', c.method, METHODS);
  int('numClasses', c.numClasses, 2, 65_535);
  int('featureDim', c.featureDim, c.numClasses, 65_535);
  num('ratio', c.ratio, 0, 1, { openMin: true });
  int('maskSeed', c.maskSeed, 0, 2 ** 32 - 1);
  if (c.mu !== 'auto') num('mu', c.mu, 0, 1e6, { openMin: true });
  num('muFactor', c.muFactor, 0, 1e6, { openMin: true });
  if (c.totalTrainSamples !== null) int('totalTrainSamples', c.totalTrainSamples, 1);
  if (c.method === 'tinyproto' && c.mu === 'auto' && c.totalTrainSamples === null) {
    fail('mu', "'auto' needs totalTrainSamples (the fleet's training-set size); give mu or totalTrainSamples", c.mu);
  }
  num('lambda', c.lambda, 0, 1e6);
  num('lr', c.lr, 0, 100, { openMin: true });
  int('batchSize', c.batchSize, 2, 65_535);
  int('localEpochs', c.localEpochs, 1, 65_535);
  int('rounds', c.rounds, 1, 2 ** 32 - 1);
  if (!Array.isArray(c.agents) || c.agents.length === 0) fail('agents', 'list the agent ids that take part', c.agents);
  for (const a of c.agents) assertValidId('agent', a);
  if (new Set(c.agents).size !== c.agents.length) fail('agents', 'agent ids must be unique', c.agents);
  num('participation', c.participation, 0, 1, { openMin: true });
  int('roundDeadlineMs', c.roundDeadlineMs, 100);
  const selected = participantsPerRound(c.agents.length, c.participation);
  // clamp: a round can never need more uploads than it selects agents
  const minUploads = Math.min(int('minUploads', c.minUploads, 1), selected);
  oneOf('valueType', c.valueType, VALUE_TYPES);
  int('seed', c.seed, 0, 2 ** 32 - 1);
  return Object.freeze({ ...c, minUploads, agents: Object.freeze([...c.agents]) });
}

/** The mu the experiment uses (null for methods without scaling). */
export function experimentMu(c: ExperimentConfig): number | null {
  if (c.method !== 'tinyproto') return null;
  if (c.mu !== 'auto') return c.mu;
  return muFromTotals(c.totalTrainSamples!, c.numClasses, c.muFactor);
}
