/**
 * The aggregator's experiment configuration: one frozen defaults object, merged, validated and
 * clamped in `resolveExperimentConfig`. The learning settings, the class masks (derived from
 * `seed`) and mu are the experiment setup's (method/experiment.ts), shared with `simulate`.
 */
import { assertValidId } from '../wire/topics.ts';
import { participantsPerRound } from '../method/selection.ts';
import { mergeSetup, resolveMu, setupDefaults, type ExperimentSetup } from '../method/experiment.ts';
import { fail, int, num } from '../common/validate.ts';
import { FLEET_METHODS, isFleetMethod, type FleetMethod, type Method } from '../method/method.ts';
import { MU_FROM, type MuFrom } from './train-samples.ts';

/** The setup fields the aggregator takes: K, the learning settings it announces, and the seed. */
const AGGREGATOR_SETUP_FIELDS = ['method', 'numClasses', 'featureDim', 'ratio', 'mu', 'muFactor', 'lambda', 'lr', 'batchSize', 'localEpochs', 'rounds', 'valueType', 'seed', 'staleRounds'] as const;
type AggregatorSetup = Pick<ExperimentSetup, (typeof AGGREGATOR_SETUP_FIELDS)[number]>;

/**
 * The experiment setup (method, K, d, r, mu, lambda, lr, batch, epochs, rounds, value type and
 * the seed, which fixes the class masks and the participant selection) plus:
 */
export interface ExperimentConfig extends Omit<AggregatorSetup, 'method'> {
  /** The methods that run on a fleet (FedAvg is a simulation baseline: method/method.ts). */
  readonly method: FleetMethod;
  /** Experiment id: appears in every topic and message header. */
  readonly experiment: string;
  /**
   * Total training samples across the fleet, as configured (`--total-train-samples`): for mu
   * 'auto', checked against the agents' reported counts (a warning beyond 10%) and used only
   * before any count is known, or always with muFrom 'configured'.
   */
  readonly totalTrainSamples: number | null;
  /**
   * Where mu 'auto' takes N from (aggregator/train-samples.ts): 'reported', the sum of the
   * training-sample counts the agents' uploads carry (default), or 'configured', totalTrainSamples.
   */
  readonly muFrom: MuFrom;
  /** Agent ids allowed to upload; uploads from anyone else are rejected. */
  readonly agents: readonly string[];
  /** Fraction of the agents selected each round (at least one). */
  readonly participation: number;
  /** How long a round waits for uploads. */
  readonly roundDeadlineMs: number;
  /** Uploads needed to close a round at its deadline; with fewer the deadline is extended. */
  readonly minUploads: number;
  /**
   * Over-selection: select more agents than needed (participation) and close the round as soon
   * as this many uploaded (null = wait for every selected agent, up to the deadline).
   */
  readonly closeAt: number | null;
  /**
   * How many times a round below minUploads gets another deadline period; after that it closes
   * with what it has (or is abandoned with none), so every round ends.
   */
  readonly maxDeadlineExtensions: number;
  /** A selected agent whose last will says offline is waited for this long before a round closes without it. */
  readonly offlineGraceMs: number;
}

const SETUP_DEFAULTS = setupDefaults(...AGGREGATOR_SETUP_FIELDS);
if (!isFleetMethod(SETUP_DEFAULTS.method)) fail('method', 'the default method must run on a fleet', SETUP_DEFAULTS.method);

export const EXPERIMENT_DEFAULTS: ExperimentConfig = Object.freeze({
  experiment: 'tinyproto-1',
  ...SETUP_DEFAULTS,
  method: SETUP_DEFAULTS.method,
  totalTrainSamples: null,
  muFrom: 'reported',
  agents: Object.freeze([]) as readonly string[],
  participation: 1,
  roundDeadlineMs: 10 * 60 * 1000,
  minUploads: 1,
  closeAt: null,
  maxDeadlineExtensions: 2,
  offlineGraceMs: 30_000,
} satisfies ExperimentConfig);

/** Options as a user gives them: any method name, refused here when it cannot run on a fleet. */
export type ExperimentOptions = Partial<Omit<ExperimentConfig, 'method'>> & { readonly method?: Method };

export function resolveExperimentConfig(options: ExperimentOptions = {}): ExperimentConfig {
  const merged = mergeSetup<Omit<ExperimentConfig, 'method'> & { readonly method: Method }>(EXPERIMENT_DEFAULTS, options);
  if (!isFleetMethod(merged.method)) fail('method', `${merged.method} runs only in \`tinyproto simulate\` (agents exchange prototypes, not weights); a fleet runs ${FLEET_METHODS.join(', ')}`, merged.method);
  const c = { ...merged, method: merged.method };
  assertValidId('experiment', c.experiment);
  if (c.totalTrainSamples !== null) int('totalTrainSamples', c.totalTrainSamples, 1);
  if (!MU_FROM.includes(c.muFrom)) fail('muFrom', `must be one of ${MU_FROM.join(', ')}`, c.muFrom);
  // mu 'auto' from the configured total needs one: fails here (E_CONFIG naming mu) without it;
  // from the reported counts it needs none (the agents' uploads carry theirs)
  if (c.muFrom === 'configured') resolveMu(c, c.totalTrainSamples);
  if (!Array.isArray(c.agents) || c.agents.length === 0) fail('agents', 'list the agent ids that take part', c.agents);
  for (const a of c.agents) assertValidId('agent', a);
  if (new Set(c.agents).size !== c.agents.length) fail('agents', 'agent ids must be unique', c.agents);
  num('participation', c.participation, 0, 1, { openMin: true });
  int('roundDeadlineMs', c.roundDeadlineMs, 100);
  const selected = participantsPerRound(c.agents.length, c.participation);
  // clamp: a round can never need more uploads than it selects agents
  const minUploads = Math.min(int('minUploads', c.minUploads, 1), selected);
  if (c.closeAt !== null) int('closeAt', c.closeAt, minUploads, selected);
  int('maxDeadlineExtensions', c.maxDeadlineExtensions, 0, 1000);
  int('offlineGraceMs', c.offlineGraceMs, 0, 86_400_000);
  return Object.freeze({ ...c, minUploads, agents: Object.freeze([...c.agents]) });
}

/**
 * The mu known before any agent reports (null for methods without scaling, and for mu 'auto'
 * without a configured total): the given mu, or the one from the configured total. What a round
 * really uses is aggregator/train-samples.ts `chooseMu`.
 */
export function experimentMu(c: ExperimentConfig): number | null {
  return c.method === 'tinyproto' && c.mu === 'auto' && c.totalTrainSamples === null ? null : resolveMu(c, c.totalTrainSamples);
}
