/**
 * What a Learner is given and gives back. Plain data only (structured-clone friendly), so the
 * simulation can pass it to and from worker threads and the agent can keep it in SQLite.
 */
import type { Family, EpochStats } from '../models/engine.ts';
import type { Method } from '../method/method.ts';
import type { ClassMasks } from '../wire/masks.ts';
import type { PrototypeScale } from '../method/prototype-scale.ts';
import type { PrototypeAggregation } from '../method/aggregate.ts';
import type { LambdaRule, PrototypeEvalRule, PrototypePass, PrototypeSupport } from '../method/experiment.ts';
import type { EngineSettings } from './engine-settings.ts';

export interface ClientInit {
  readonly client: number;
  readonly family: Family;
  readonly inputShape: readonly [number, number, number];
  /** NHWC normalised images. */
  readonly trainX: Float32Array;
  readonly trainY: Int32Array;
  readonly testX: Float32Array;
  readonly testY: Int32Array;
}

/**
 * A learner's hyperparameters plus the engine every worker thread creates (the simulation
 * resolves `threads` to the per-worker count before handing the settings over).
 */
export interface RunnerSettings extends EngineSettings {
  readonly method: Method;
  readonly featureDim: number;
  readonly numClasses: number;
  readonly seed: number;
  readonly batchSize: number;
  readonly lr: number;
  readonly lambda: number;
  readonly localEpochs: number;
  readonly evalBatchSize: number;
  /** TinyProto: the class masks fixed by the server before round 1; null for other methods. */
  readonly masks: ClassMasks | null;
  /**
   * How the client uses the global prototypes' magnitude: 'server' as received (the paper's
   * method, the default), or 'local' (method/prototype-scale.ts: an improvement option).
   */
  readonly prototypeScale?: PrototypeScale;
  /** TinyProto: 'scaled' (absent: upload n_ij * p_ij, the paper) or 'mean' (upload p_ij; method/aggregate.ts). */
  readonly prototypeAggregation?: PrototypeAggregation;
  /** Improvement options (method/experiment.ts); absent = the paper's method. */
  readonly prototypeLoss?: PrototypeSupport;
  readonly prototypeEval?: PrototypeEvalRule;
  readonly prototypePass?: PrototypePass;
  readonly warmupRounds?: number;
  readonly lambdaRule?: LambdaRule;
  readonly lambdaRelative?: number;
  /** The pull in the last round as a fraction of the first (method/lambda-schedule.ts), with `rounds`; absent = fixed. */
  readonly lambdaFinal?: number;
  /** The run's rounds, for the lambda schedule. */
  readonly rounds?: number;
  /** Gradient clipping: each step's gradient scaled down to this global L2 norm (TrainOptions.clipNorm); absent or 0 = off. */
  readonly clipNorm?: number;
  readonly offMaskWeight?: number;
  readonly classBalance?: number;
  readonly prototypeContrast?: number;
}

/** Global prototypes as the clients use them: K*d expanded, plus which classes have one. */
export interface GlobalState {
  readonly prototypes: Float32Array;
  readonly hasGlobal: Uint8Array;
}

export interface ModelInfo {
  readonly client: number;
  readonly family: Family;
  readonly paramCount: number;
  readonly flopsPerImage: number;
  /** Engine that trains this model: 'ort' or 'tfjs' (Engine.name). */
  readonly engine: string;
  /** That engine's backend: for ort the execution provider ('cpu', 'cuda'), for tfjs 'tensorflow', 'wasm', 'cpu'. */
  readonly backend: string;
}

export interface ClientUpload {
  readonly client: number;
  readonly round: number;
  /** class id -> values: n_ij * p_ij under m_j (TinyProto), p_ij (FedProto); empty for Local. */
  readonly prototypes: Map<number, Float32Array>;
  /** Classes the client holds in its training split (it would send a presence bitmap of these). */
  readonly classesHeld: number;
  /**
   * For measurements only, never sent: the client's class counts n_ij, the L2 norm of each
   * class mean p_ij over all d dimensions, and over the class's mask only (TinyProto; the full
   * norm otherwise); 0 for absent classes.
   */
  readonly diagnostics: { readonly counts: Int32Array; readonly meanNorms: Float32Array; readonly maskedNorms: Float32Array };
  readonly train: EpochStats;
  readonly trainSeconds: number;
  readonly prototypeSeconds: number;
  /** Memory after training and the prototype pass (process-wide RSS; the engine's own use). */
  readonly memory: { readonly rssBytes: number; readonly heapUsedBytes: number; readonly engineBytes: number; readonly engineTensors: number; readonly wasmHeapBytes: number | null };
}

export interface ClientEval {
  readonly client: number;
  readonly round: number;
  readonly testCount: number;
  readonly headCorrect: number;
  /** Nearest prototype among all K classes (the global prototypes); null when there are none (Local: always). */
  readonly prototypeCorrect: number | null;
  /**
   * Nearest prototype among the classes of the client's own training split: the global
   * prototypes of those classes, or Local's own class means. The metric comparable across all
   * methods (Local cannot choose among classes it never saw).
   */
  readonly prototypeOwnCorrect: number | null;
  /**
   * For measurements: the all-K nearest-prototype count under every evaluation rule
   * (`prototypeEval`), from the same features; null where `prototypeCorrect` is null.
   */
  readonly prototypeCorrectByRule?: { readonly [R in PrototypeEvalRule]: number | null } | null;
  readonly evalSeconds: number;
}
