/**
 * The experiment setup every command shares (`simulate`, `server`, `fleet`, `agent`, the
 * benchmarks): the paper's learning settings (METHOD.md "Settings the paper uses") as ONE frozen
 * defaults object, the class masks derived from the experiment seed in ONE way, mu from the
 * automatic rule, and the validation of these settings in one place. The configs of the
 * simulation (sim/config.ts), the aggregator (aggregator/config.ts) and the agent
 * (agent/config.ts) take their defaults from here and merge through `mergeSetup`.
 */
import { Rng } from '../common/rng.ts';
import { fail, int, mergeDefined, num, oneOf, rejectUnknown } from '../common/validate.ts';
import { DEFAULT_MASK_CANDIDATES, makeClassMasks, type ClassMasks, type MaskParams } from '../wire/masks.ts';
import { VALUE_TYPES, type ValueType } from '../wire/codec-types.ts';
import { METHODS, type Method } from './method.ts';
import { DEFAULT_MU_FACTOR, muFromTotals } from './aggregate.ts';
import type { PrototypeScale } from './prototype-scale.ts';

export interface ExperimentSetup {
  readonly method: Method;
  /** K where the data set does not say it (the aggregator); the paper's CIFAR-10 has 10. */
  readonly numClasses: number;
  /** d */
  readonly featureDim: number;
  /** r: fraction of d kept per class (TinyProto). */
  readonly ratio: number;
  /** Random candidate codes the mask construction considers per class. */
  readonly maskCandidates: number;
  readonly lambda: number;
  /** Plain SGD, no momentum. */
  readonly lr: number;
  readonly batchSize: number;
  readonly localEpochs: number;
  /**
   * Server scaling constant (TinyProto): P_j = mu * sum_i n_ij p_ij. 'auto' sets
   * mu = muFactor * K / (total training samples), the paper's values' rule of thumb.
   */
  readonly mu: number | 'auto';
  readonly muFactor: number;
  /** Encoding of prototype values on the wire (not the paper's: it sends float32). */
  readonly valueType: ValueType;
  /** N clients, all participating every round. */
  readonly clients: number;
  /** Dirichlet concentration of the label partition. */
  readonly alpha: number;
  readonly rounds: number;
  /** The experiment seed: partition, class masks (through `maskSeedOf`), initial weights, selection. */
  readonly seed: number;
  // Improvement options (README "Why TinyProto trailed FedProto"); the defaults are the paper's method.
  /**
   * The prototype term's support: 'full' (the paper) = MSE over all d dimensions against P_y
   * expanded with zeros off the mask; 'masked' = MSE over the s dimensions of class y's mask only
   * (TinyProto; FedProto has no mask, so it is 'full' there): no pull to zero off the mask.
   */
  readonly prototypeLoss: PrototypeSupport;
  /**
   * With the masked loss: the weight of each dimension off class y's mask, relative to a mask
   * dimension, in the prototype term, which there pulls the feature towards the sparse
   * prototype's zero; 0 = none (the masked loss). Keeps the growth of a class's features on its
   * mask, where the masked evaluation looks (method/prototype-weights.ts).
   */
  readonly offMaskWeight: number;
  /**
   * The class balance beta of the prototype term (method/prototype-weights.ts): class j's weight
   * times n_j^-beta, normalised so the term's total over the client's samples is unchanged; 1 =
   * every held class the same share of the term, moving the pull from a client's dominant
   * classes to its rare ones; 0 = off (the paper: every sample the same weight).
   */
  readonly classBalance: number;
  /**
   * The prototype contrast's weight gamma (method/prototype-contrast.ts, models/contrast.ts): gamma
   * times the cross-entropy of the nearest-prototype scores (the masked distance to each global
   * prototype over one temperature T, the client's own mean distance to its class prototypes) is
   * added to the local loss, which then also keeps a feature away from the other classes'
   * prototypes; 0 = off (the paper).
   */
  readonly prototypeContrast: number;
  /**
   * Nearest-prototype evaluation: 'full' (the paper) = squared distance over all d dimensions;
   * 'masked' = squared distance over each class's own mask (every class has the same s, so the
   * distances are comparable); 'cosine' = largest cosine similarity over all d dimensions;
   * 'spread' = the masked distance (all d without masks) to class j divided by the client's own
   * mean squared distance of its class-j training features to their mean there (nothing is sent).
   */
  readonly prototypeEval: PrototypeEvalRule;
  /**
   * Where a client's class means come from: 'after' = one pass over the training split after
   * training, batch norm in eval mode (ours: METHOD.md's cleaner alternative); 'training' = the
   * features the last local epoch's training steps computed (the paper's code; the model
   * changes along the way, batch norm in training mode).
   */
  readonly prototypePass: PrototypePass;
  /** Rounds trained with CE alone before the prototype term starts (0 = from the first global prototype). */
  readonly warmupRounds: number;
  /**
   * The prototype term's weight: 'fixed' = lambda * MSE (the paper); 'relative' = lambdaRelative *
   * MSE / (the client's own class-mean mean square on the same support), a scale-free term: the
   * squared distance to P_y relative to the squared norm of the client's own class mean.
   */
  readonly lambdaRule: LambdaRule;
  /** The coefficient of the 'relative' rule (dimensionless). */
  readonly lambdaRelative: number;
  /**
   * The pull's strength at the last round, as a fraction of its first (method/lambda-schedule.ts):
   * lambda falls on a half cosine from round 1 to round `rounds`; 1 = fixed (the paper).
   */
  readonly lambdaFinal: number;
  /**
   * Gradient clipping, a guard against a client's training running away (models/engine.ts
   * TrainOptions.clipNorm): each step's gradient over all trainable parameters is scaled down to
   * this global L2 norm when it is longer; 0 = off (the paper).
   */
  readonly clipNorm: number;
  /**
   * Unreached classes: a class with no contributor for this many rounds in a row loses its
   * global prototype (clients stop pulling towards it and stop predicting it by prototype);
   * 0 = keep it for ever (the paper's aggregation).
   */
  readonly staleRounds: number;
}

export type PrototypeSupport = 'full' | 'masked';
export const PROTOTYPE_SUPPORTS: readonly PrototypeSupport[] = Object.freeze(['full', 'masked']);
export type PrototypeEvalRule = 'full' | 'masked' | 'cosine' | 'spread';
export const PROTOTYPE_EVAL_RULES: readonly PrototypeEvalRule[] = Object.freeze(['full', 'masked', 'cosine', 'spread']);
export type PrototypePass = 'after' | 'training';
export const PROTOTYPE_PASSES: readonly PrototypePass[] = Object.freeze(['after', 'training']);
export type LambdaRule = 'fixed' | 'relative';
export const LAMBDA_RULES: readonly LambdaRule[] = Object.freeze(['fixed', 'relative']);

/** The paper's settings (METHOD.md); seed and value type are this project's. */
export const SETUP_DEFAULTS: ExperimentSetup = Object.freeze({
  method: 'tinyproto',
  numClasses: 10,
  featureDim: 500,
  ratio: 0.1,
  maskCandidates: DEFAULT_MASK_CANDIDATES,
  lambda: 10,
  lr: 0.01,
  batchSize: 32,
  localEpochs: 1,
  mu: 'auto',
  muFactor: DEFAULT_MU_FACTOR,
  valueType: 'float32',
  clients: 20,
  alpha: 0.1,
  rounds: 100,
  seed: 1,
  prototypeLoss: 'full',
  offMaskWeight: 0,
  classBalance: 0,
  prototypeContrast: 0,
  prototypeEval: 'full',
  prototypePass: 'after',
  warmupRounds: 0,
  lambdaRule: 'fixed',
  lambdaRelative: 0.1,
  lambdaFinal: 1,
  clipNorm: 0,
  staleRounds: 0,
} satisfies ExperimentSetup);

/** The improvement option fields (all default to the paper's method). */
export const IMPROVEMENT_FIELDS = ['prototypeLoss', 'offMaskWeight', 'classBalance', 'prototypeContrast', 'prototypeEval', 'prototypePass', 'warmupRounds', 'lambdaRule', 'lambdaRelative', 'lambdaFinal', 'clipNorm', 'staleRounds'] as const;
export type ImprovementOptions = Pick<ExperimentSetup, (typeof IMPROVEMENT_FIELDS)[number]>;

/**
 * `tinyproto-plus`: the improvement options combined (README "Why TinyProto trailed FedProto"
 * gives what each part is worth). A preset of fields, not a method: any of them can be overridden.
 */
export const TINYPROTO_PLUS: Readonly<Partial<ImprovementOptions> & { readonly prototypeScale?: PrototypeScale }> = Object.freeze({
  prototypeLoss: 'masked',
  prototypeEval: 'masked',
  // the simulation's prototypeScale (sim/config.ts): the masked distance needs prototypes at the
  // clients' own scale, or a class with a small mu * n_j attracts every sample
  prototypeScale: 'local',
});

/** The defaults of some setup fields, in the order given (for a config's own defaults object). */
export function setupDefaults<K extends keyof ExperimentSetup>(...keys: K[]): Pick<ExperimentSetup, K> {
  return Object.fromEntries(keys.map((k) => [k, SETUP_DEFAULTS[k]])) as Pick<ExperimentSetup, K>;
}

type Check = (value: unknown, config: Readonly<Record<string, unknown>>) => void;

/** One validator per setup field; bounds follow the wire format (u16 d, batch, epochs; u32 rounds). */
const CHECKS: { readonly [K in keyof ExperimentSetup]: Check } = {
  method: (v) => oneOf('method', v, METHODS),
  numClasses: (v) => int('numClasses', v, 2, 65_535),
  // d >= K where K is known: every class's mask needs a block of at least one dimension
  featureDim: (v, c) => int('featureDim', v, typeof c['numClasses'] === 'number' ? c['numClasses'] : 2, 65_535),
  ratio: (v) => num('ratio', v, 0, 1, { openMin: true }),
  maskCandidates: (v) => int('maskCandidates', v, 1, 65_535),
  lambda: (v) => num('lambda', v, 0, 1e6),
  lr: (v) => num('lr', v, 0, 100, { openMin: true }),
  batchSize: (v) => int('batchSize', v, 2, 65_535),
  localEpochs: (v) => int('localEpochs', v, 1, 65_535),
  mu: (v) => {
    if (v !== 'auto') num('mu', v, 0, 1e6, { openMin: true });
  },
  muFactor: (v) => num('muFactor', v, 0, 1e6, { openMin: true }),
  valueType: (v) => oneOf('valueType', v, VALUE_TYPES),
  clients: (v) => int('clients', v, 1, 100_000),
  alpha: (v) => num('alpha', v, 0, 1e6, { openMin: true }),
  rounds: (v) => int('rounds', v, 1, 2 ** 32 - 1),
  seed: (v) => int('seed', v, 0, 2 ** 32 - 1),
  prototypeLoss: (v) => oneOf('prototypeLoss', v, PROTOTYPE_SUPPORTS),
  offMaskWeight: (v) => num('offMaskWeight', v, 0, 1),
  classBalance: (v) => num('classBalance', v, 0, 1),
  prototypeContrast: (v) => num('prototypeContrast', v, 0, 100),
  prototypeEval: (v) => oneOf('prototypeEval', v, PROTOTYPE_EVAL_RULES),
  prototypePass: (v) => oneOf('prototypePass', v, PROTOTYPE_PASSES),
  warmupRounds: (v) => int('warmupRounds', v, 0, 2 ** 32 - 1),
  lambdaRule: (v) => oneOf('lambdaRule', v, LAMBDA_RULES),
  lambdaRelative: (v) => num('lambdaRelative', v, 0, 1e6),
  lambdaFinal: (v) => num('lambdaFinal', v, 0, 1),
  clipNorm: (v) => num('clipNorm', v, 0, 1e6),
  staleRounds: (v) => int('staleRounds', v, 0, 2 ** 32 - 1),
};

/** Validates every setup field that `config` carries (E_CONFIG naming the field); other fields are the caller's. */
export function checkSetup(config: object): void {
  const c = config as Readonly<Record<string, unknown>>;
  for (const [field, check] of Object.entries(CHECKS) as [keyof ExperimentSetup, Check][]) {
    if (field in c) check(c[field], c);
  }
}

/**
 * `options` over `defaults`: unknown keys rejected, undefined keeps the default, and every setup
 * field validated. The caller validates its own other fields and freezes the result.
 */
export function mergeSetup<T extends object>(defaults: T, options: Partial<T>): T {
  rejectUnknown(defaults, options);
  const c = mergeDefined(defaults, options);
  checkSetup(c);
  return c;
}

/** The seed of the class masks, from the experiment seed: the one derivation every command uses. */
export function maskSeedOf(seed: number): number {
  return Rng.derive(seed, 'masks').nextUint32();
}

export type MaskSetup = Pick<ExperimentSetup, 'featureDim' | 'ratio' | 'seed'> & { readonly numClasses: number };

/** The parameters of the experiment's CPS masks (what a MASKS mode 0 message carries). */
export function maskParamsOf(s: MaskSetup): MaskParams {
  return { numClasses: s.numClasses, featureDim: s.featureDim, ratio: s.ratio, seed: maskSeedOf(s.seed), candidates: SETUP_DEFAULTS.maskCandidates };
}

/** The experiment's class masks; null for the methods without masks. */
export function experimentMasks(s: MaskSetup & { readonly method: Method }): ClassMasks | null {
  return s.method === 'tinyproto' ? makeClassMasks(maskParamsOf(s)) : null;
}

/**
 * The server's mu (null for methods without scaling): the given value, or for 'auto' the
 * `muFromTotals` rule, which needs the total training-set size (E_CONFIG on mu without it).
 */
export function resolveMu(
  s: Pick<ExperimentSetup, 'method' | 'mu' | 'muFactor'> & { readonly numClasses: number },
  totalTrainSamples: number | null,
): number | null {
  if (s.method !== 'tinyproto') return null;
  if (s.mu !== 'auto') return s.mu;
  if (totalTrainSamples === null) fail('mu', "'auto' needs totalTrainSamples (the fleet's training-set size); give mu or totalTrainSamples", s.mu);
  return muFromTotals(totalTrainSamples, s.numClasses, s.muFactor);
}

/** For messages: "d = 500, lambda = 10, batch 32, SGD lr 0.01" of a setup. */
export function setupText(s: Pick<ExperimentSetup, 'featureDim' | 'lambda' | 'batchSize' | 'lr'>): string {
  return `d = ${s.featureDim}, lambda = ${s.lambda}, batch ${s.batchSize}, SGD lr ${s.lr}`;
}
