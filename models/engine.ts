/**
 * The engine interface: what the federated harness needs from a training engine.
 * Two engines implement it: ONNX Runtime (models/ort) and TensorFlow.js (models/tfjs), both
 * executing the one model zoo of models/arch.
 * All tensors cross this boundary as flat typed arrays (NHWC images, row-major features).
 */
import type { PrototypeContrast } from './contrast.ts';

export type Family = 'resnet8' | 'mobilenetv2' | 'shufflenetv2' | 'efficientnet-lite';

export interface ModelSpec {
  readonly family: Family;
  /** [height, width, channels] */
  readonly inputShape: readonly [number, number, number];
  /** d: dimension of the feature vector that ends the backbone (paper: 500). */
  readonly featureDim: number;
  /** K: number of classes of the linear head. */
  readonly numClasses: number;
  /** Seed for weight initialisation. */
  readonly seed: number;
}

export interface TrainOptions {
  readonly batchSize: number;
  readonly lr: number;
  /** Weight of the prototype term lambda * MSE(feature, P_y). */
  readonly lambda: number;
  /**
   * Expanded global prototypes, K*d row-major (zeros off the mask for TinyProto), or null
   * before any exist (CE only).
   */
  readonly globalPrototypes: Float32Array | null;
  /** K flags: 1 where class j has a global prototype. Samples of other classes get no MSE term. */
  readonly hasGlobal: Uint8Array | null;
  /**
   * Weights of the prototype term in place of the 0/1 flags of `hasGlobal` (improvement options):
   * K values (one per class: every dimension of a class-j sample's squared error gets weight w_j)
   * or K*d values (row-major: dimension k of a class-j sample gets w_jk, e.g. the masked loss).
   * The term stays sum w * (f - P_y)^2 / (B * d). Absent or null: the flags (the paper's loss).
   */
  readonly classWeights?: Float32Array | null;
  /**
   * The prototype contrast (models/contrast.ts; improvement option `prototypeContrast`): gamma
   * times the cross-entropy of the nearest-prototype scores, added to the loss. Absent or null: off.
   */
  readonly contrast?: PrototypeContrast | null;
  /** Seed for the order of mini-batches in this epoch. */
  readonly shuffleSeed: number;
  /**
   * Gradient clipping (improvement option `clipNorm`): each step's gradient over all trainable
   * parameters is scaled down to this global L2 norm when it is longer. Absent or 0: off (the paper).
   */
  readonly clipNorm?: number;
  /**
   * Also return the per-class sums of the features the training steps computed (batch norm in
   * training mode, each batch before its update): the paper code's prototypes. Single-session
   * engines only (ort with trainThreads > 1 rejects it with E_CONFIG).
   */
  readonly collectFeatures?: boolean;
}

/** Per-class sums of features (K*d, row-major) and the sample counts (K). */
export interface ClassFeatureSums {
  readonly sums: Float64Array;
  readonly counts: Int32Array;
}

export interface EpochStats {
  /** Mean total loss over the epoch's batches. */
  readonly loss: number;
  readonly ceLoss: number;
  readonly protoLoss: number;
  readonly samples: number;
  readonly steps: number;
  readonly seconds: number;
  /** The largest global L2 norm of a step's gradient (before clipping) over the epoch's steps. */
  readonly gradNormMax: number;
  /** Steps whose gradient TrainOptions.clipNorm scaled down. */
  readonly clippedSteps: number;
  /** With TrainOptions.collectFeatures: the epoch's training-pass features per class. */
  readonly classFeatures?: ClassFeatureSums;
}

export interface Embedding {
  /** n*d features (eval mode: batch norm uses running statistics). */
  readonly features: Float32Array;
  /** n*K head logits. */
  readonly logits: Float32Array;
}

/** Named weight arrays: a checkpoint that either engine can restore (names and layouts: models/arch/builder.ts). */
export type ModelState = Record<string, { shape: number[]; data: Float32Array }>;

export interface LocalModel {
  readonly spec: ModelSpec;
  /** Trainable parameters (batch-norm running statistics excluded). */
  readonly paramCount: number;
  /** Forward multiply-adds x 2 per image. */
  readonly flopsPerImage: number;
  /** One local epoch of SGD over (x, y); x is n*h*w*c normalised floats. */
  trainEpoch(x: Float32Array, y: Int32Array, opts: TrainOptions): Promise<EpochStats>;
  /** Features and logits in eval mode, computed in batches of `batchSize`. */
  embed(x: Float32Array, n: number, batchSize?: number): Promise<Embedding>;
  getState(): ModelState;
  setState(state: ModelState): void;
  dispose(): void;
}

export interface EngineMemory {
  /** Live tensors held by the engine (tfjs: tf.memory().numTensors). */
  readonly numTensors: number;
  readonly numBytes: number;
  /** Size of the wasm backend's linear memory, when that backend runs. */
  readonly wasmHeapBytes?: number;
}

export interface Engine {
  /** e.g. 'tfjs' */
  readonly name: string;
  /** e.g. 'tensorflow', 'wasm', 'cpu' */
  readonly backend: string;
  createModel(spec: ModelSpec): LocalModel;
  memory(): EngineMemory;
  /** Stops the engine's helper threads, if it has any (ort with trainThreads > 1). */
  close?(): Promise<void>;
}
