/**
 * Functional layers on explicit tf.Variables (no tf.layers): a parameter store plus layer
 * factories. A factory is called once at build time with the per-image input shape
 * [h, w, c]; it creates its variables, adds its forward FLOPs to the builder, and returns the
 * output shape and an `apply` closure used inside tf.tidy / tf.variableGrads. Names, shapes,
 * initialisation, padding, batch-norm constants and FLOPs are the shared layer rules of
 * models/arch/builder.ts; activations are NHWC.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { initValues } from '../init.ts';
import { TinyProtoError } from '../../common/errors.ts';
import { BN_EPS, BN_MOMENTUM, planBatchNorm, planConv, planDense, sizeOf, type ConvOpts, type FeatureMap, type ParamDef } from '../arch/builder.ts';

export type Tf = typeof TfCore;
export type Tensor = TfCore.Tensor;
export type Tensor1D = TfCore.Tensor1D;
export type Tensor2D = TfCore.Tensor2D;
export type Tensor4D = TfCore.Tensor4D;
export type Variable = TfCore.Variable;

/** Per-image activation shape [h, w, c]. */
export type Shape3 = readonly [number, number, number];

export interface ParamEntry {
  /** Logical (state) name, e.g. `layer1.0.bn1.weight`. */
  readonly name: string;
  readonly shape: readonly number[];
  readonly variable: Variable;
  readonly trainable: boolean;
}

let storeCounter = 0;

/**
 * Owns the variables of one model. tf variable names must be globally unique, so each store
 * prefixes them with a unique id; the logical names are what getState/setState use.
 */
export class ParamStore {
  readonly entries: ParamEntry[] = [];
  private readonly byName = new Map<string, ParamEntry>();
  private readonly prefix: string;
  private disposed = false;

  constructor(
    readonly tf: Tf,
    /** Seed for initialisation (models/init.ts). */
    readonly seed: number,
    label = 'm',
  ) {
    this.prefix = `tp${++storeCounter}_${label}/`;
  }

  add(name: string, shape: readonly number[], values: Float32Array, trainable: boolean): Variable {
    if (this.byName.has(name)) throw new TinyProtoError('E_MODEL', `duplicate parameter name ${name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) {
      throw new TinyProtoError('E_SHAPE', `parameter ${name}: ${values.length} values for shape [${shape}]`);
    }
    const variable = this.tf.tidy(() => this.tf.variable(this.tf.tensor(values, [...shape], 'float32'), trainable, this.prefix + name));
    const entry: ParamEntry = { name, shape: [...shape], variable, trainable };
    this.entries.push(entry);
    this.byName.set(name, entry);
    return variable;
  }

  /** Create a parameter as `def` describes, initialised from this store's seed. */
  create(def: ParamDef): Variable {
    return this.add(def.name, def.shape, initValues(this.seed, def.name, sizeOf(def.shape), def.init), def.trainable);
  }

  get(name: string): ParamEntry | undefined {
    return this.byName.get(name);
  }

  trainableVariables(): Variable[] {
    return this.entries.filter((e) => e.trainable).map((e) => e.variable);
  }

  /** Number of trainable scalars. */
  trainableCount(): number {
    let n = 0;
    for (const e of this.entries) if (e.trainable) n += e.variable.size;
    return n;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const e of this.entries) e.variable.dispose();
  }
}

/** Batch moments produced by a batch-norm layer in training mode (kept; caller disposes). */
export interface BnMoments {
  readonly layer: BatchNormLayer;
  readonly mean: Tensor1D;
  readonly variance: Tensor1D;
  /** Number of values each moment was computed over (B*H*W). */
  readonly count: number;
}

export interface FwdCtx {
  readonly training: boolean;
  /** In training mode batch-norm layers push their (kept) batch moments here. */
  readonly moments: BnMoments[];
}

export interface Layer {
  readonly shape: Shape3;
  apply(x: Tensor4D, ctx: FwdCtx): Tensor4D;
}

export interface Layer2D {
  readonly inDim: number;
  readonly outDim: number;
  apply(x: Tensor2D): Tensor2D;
}

const featureMap = ([h, w, c]: Shape3): FeatureMap => ({ c, h, w });

export class BatchNormLayer implements Layer {
  readonly shape: Shape3;
  readonly gamma: Variable;
  readonly beta: Variable;
  readonly runningMean: Variable;
  readonly runningVar: Variable;

  constructor(
    private readonly tf: Tf,
    store: ParamStore,
    readonly name: string,
    inShape: Shape3,
  ) {
    const plan = planBatchNorm(name, inShape[2]);
    this.shape = inShape;
    this.gamma = store.create(plan.weight);
    this.beta = store.create(plan.bias);
    this.runningMean = store.create(plan.runningMean);
    this.runningVar = store.create(plan.runningVar);
  }

  apply(x: Tensor4D, ctx: FwdCtx): Tensor4D {
    const tf = this.tf;
    if (!ctx.training) {
      return tf.batchNorm4d(x, this.runningMean as Tensor1D, this.runningVar as Tensor1D, this.beta as Tensor1D, this.gamma as Tensor1D, BN_EPS);
    }
    // Training mode as one custom-gradient op: tfjs's generic FusedBatchNorm + moments backward
    // costs a Tile and several full-size ops more than the closed form (3x slower on wasm).
    const count = x.shape[0] * x.shape[1] * x.shape[2];
    const op = tf.customGrad((...args: unknown[]) => {
      const [xi, gamma, beta, save] = args as [Tensor4D, Tensor1D, Tensor1D, (ts: Tensor[]) => void];
      const { mean, variance } = tf.moments(xi, [0, 1, 2]);
      const m = mean as Tensor1D;
      const v = variance as Tensor1D;
      ctx.moments.push({ layer: this, mean: tf.keep(m.clone()), variance: tf.keep(v.clone()), count });
      save([xi, m, v, gamma]);
      return {
        value: tf.batchNorm4d(xi, m, v, beta, gamma, BN_EPS),
        gradFunc: (dy: Tensor | Tensor[], saved: Tensor[]) => {
          const d = dy as Tensor4D;
          const [sx, sm, sv, sg] = saved as [Tensor4D, Tensor1D, Tensor1D, Tensor1D];
          const rstd = tf.rsqrt(tf.add(sv, BN_EPS));
          const xhat = tf.mul(tf.sub(sx, sm), rstd);
          const dbeta = tf.sum(d, [0, 1, 2]);
          const dgamma = tf.sum(tf.mul(d, xhat), [0, 1, 2]);
          // dx = gamma*rstd * (dy - mean(dy) - xhat * mean(dy*xhat))
          const dx = tf.mul(tf.sub(tf.sub(d, tf.div(dbeta, count)), tf.mul(xhat, tf.div(dgamma, count))), tf.mul(sg, rstd));
          return [dx, dgamma, dbeta];
        },
      };
    });
    return op(x, this.gamma, this.beta) as Tensor4D;
  }

  /**
   * running = (1 - momentum) * running + momentum * batch, with the unbiased batch variance
   * (PyTorch). Call after the gradient step.
   */
  updateRunning(mean: Tensor1D, variance: Tensor1D, count: number): void {
    const tf = this.tf;
    tf.tidy(() => {
      const unbias = count > 1 ? count / (count - 1) : 1;
      this.runningMean.assign(tf.add(tf.mul(this.runningMean, 1 - BN_MOMENTUM), tf.mul(mean, BN_MOMENTUM)));
      this.runningVar.assign(tf.add(tf.mul(this.runningVar, 1 - BN_MOMENTUM), tf.mul(variance, BN_MOMENTUM * unbias)));
    });
  }
}

/** Build-time helper: creates layers and counts their forward FLOPs. */
export class NetBuilder {
  /** Forward FLOPs per image (2 x MACs) of everything built so far. */
  flops = 0;

  constructor(
    readonly tf: Tf,
    readonly store: ParamStore,
  ) {}

  /** Conv without bias, or depthwise conv (channel multiplier 1) when `opts.depthwise`. */
  conv(name: string, inShape: Shape3, opts: ConvOpts): Layer {
    const tf = this.tf;
    const plan = planConv(name, featureMap(inShape), opts);
    const filter = this.store.create(plan.weight) as Tensor4D;
    this.flops += plan.flops;
    const { out, stride, pad } = plan;
    return {
      shape: [out.h, out.w, out.c],
      apply: plan.depthwise ? (x) => tf.depthwiseConv2d(x, filter, stride, pad, 'NHWC', 1, 'floor') : (x) => tf.conv2d(x, filter, stride, pad, 'NHWC', 1, 'floor'),
    };
  }

  conv2d(name: string, inShape: Shape3, opts: { filters: number; kernel: number; stride?: number }): Layer {
    return this.conv(name, inShape, opts);
  }

  depthwise(name: string, inShape: Shape3, opts: { kernel: number; stride?: number }): Layer {
    return this.conv(name, inShape, { ...opts, filters: inShape[2], depthwise: true });
  }

  batchNorm(name: string, inShape: Shape3): BatchNormLayer {
    return new BatchNormLayer(this.tf, this.store, name, inShape);
  }

  /** Linear layer y = x W + b. */
  dense(name: string, inDim: number, outDim: number): Layer2D {
    const tf = this.tf;
    const plan = planDense(name, inDim, outDim);
    const weight = this.store.create(plan.weight);
    const bias = this.store.create(plan.bias);
    this.flops += plan.flops;
    return { inDim, outDim, apply: (x) => tf.add(tf.matMul(x, weight as Tensor2D), bias) };
  }
}

// ---- parameter-free layers -------------------------------------------------------------

/** Global average pool NHWC -> [B, C]. */
export function globalAvgPool(tf: Tf, x: Tensor4D): Tensor2D {
  return tf.mean(x, [1, 2]);
}

/**
 * Channel shuffle with `groups` groups, PyTorch semantics on NCHW
 * (view(B, g, C/g, H, W).transpose(1, 2)): output channel j*g + i = input channel i*(C/g) + j.
 */
export function channelShuffle(tf: Tf, x: Tensor4D, groups: number): Tensor4D {
  const [b, h, w, c] = x.shape;
  if (c % groups !== 0) throw new TinyProtoError('E_SHAPE', `channelShuffle: ${c} channels not divisible by ${groups}`);
  const r = tf.reshape(x, [b * h * w, groups, c / groups]);
  return tf.reshape(tf.transpose(r, [0, 2, 1]), [b, h, w, c]);
}

/** Split channels into [first `at`, rest]. */
export function channelSplit(tf: Tf, x: Tensor4D, at: number): [Tensor4D, Tensor4D] {
  const [b, h, w, c] = x.shape;
  return [tf.slice(x, [0, 0, 0, 0], [b, h, w, at]), tf.slice(x, [0, 0, 0, at], [b, h, w, c - at])];
}
