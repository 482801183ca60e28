/**
 * Functional layers on explicit tf.Variables (no tf.layers): a parameter store plus layer
 * factories. A factory is called once at build time with the per-image input shape
 * [h, w, c]; it creates its variables (seeded, order-independent init), adds its parameter
 * count and forward FLOPs (2 x multiply-adds) to the builder, and returns the output shape and
 * an `apply` closure used inside tf.tidy / tf.variableGrads.
 *
 * Conventions (kept identical for the later ONNX Runtime engine):
 * - NHWC activations; conv filters [kh, kw, cin, cout]; depthwise filters [kh, kw, c, 1].
 * - Symmetric zero padding (k-1)/2 with floor rounding (PyTorch `padding=k//2`), never TF 'same'.
 * - Batch norm in the PyTorch convention: eps 1e-5, momentum 0.1, running variance updated with
 *   the unbiased batch variance; training mode normalises with the biased batch variance.
 * - Parameter names follow PyTorch state_dict style: `layer1.0.conv1.weight`, `bn1.running_mean`.
 * - FLOPs count conv / depthwise / dense multiply-adds only (BN, activations, adds, pooling are
 *   not counted), the usual convention for MFLOP tables.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import { initValues } from '../init.ts';
import { TinyProtoError } from '../../common/errors.ts';

export type Tf = typeof TfCore;
export type Tensor = TfCore.Tensor;
export type Tensor1D = TfCore.Tensor1D;
export type Tensor2D = TfCore.Tensor2D;
export type Tensor4D = TfCore.Tensor4D;
export type Variable = TfCore.Variable;

/** Per-image activation shape [h, w, c]. */
export type Shape3 = readonly [number, number, number];

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

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

  add(name: string, shape: number[], values: Float32Array, trainable: boolean): Variable {
    if (this.byName.has(name)) throw new TinyProtoError('E_MODEL', `duplicate parameter name ${name}`);
    const size = shape.reduce((a, b) => a * b, 1);
    if (values.length !== size) {
      throw new TinyProtoError('E_SHAPE', `parameter ${name}: ${values.length} values for shape [${shape}]`);
    }
    const variable = this.tf.tidy(() => this.tf.variable(this.tf.tensor(values, shape, 'float32'), trainable, this.prefix + name));
    const entry: ParamEntry = { name, shape: [...shape], variable, trainable };
    this.entries.push(entry);
    this.byName.set(name, entry);
    return variable;
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

export interface ConvOpts {
  readonly filters: number;
  readonly kernel: number;
  readonly stride?: number;
  /** Defaults to false: every conv here is followed by batch norm. */
  readonly bias?: boolean;
}

/** Output size of a conv with symmetric padding (k-1)/2 (PyTorch floor rounding). */
export function convOut(size: number, kernel: number, stride: number): number {
  const pad = (kernel - 1) >> 1;
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

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
    const c = inShape[2];
    this.shape = inShape;
    this.gamma = store.add(`${name}.weight`, [c], new Float32Array(c).fill(1), true);
    this.beta = store.add(`${name}.bias`, [c], new Float32Array(c), true);
    this.runningMean = store.add(`${name}.running_mean`, [c], new Float32Array(c), false);
    this.runningVar = store.add(`${name}.running_var`, [c], new Float32Array(c).fill(1), false);
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

/** Build-time helper: creates layers, counts parameters and forward FLOPs. */
export class NetBuilder {
  /** Forward FLOPs per image (2 x MACs) of everything built so far. */
  flops = 0;
  readonly flopsByLayer: { name: string; flops: number }[] = [];

  constructor(
    readonly tf: Tf,
    readonly store: ParamStore,
  ) {}

  private countFlops(name: string, flops: number): void {
    this.flops += flops;
    this.flopsByLayer.push({ name, flops });
  }

  private heNormal(name: string, size: number, fanOut: number): Float32Array {
    return initValues(this.store.seed, name, size, { kind: 'he', fanOut });
  }

  private uniform(name: string, size: number, bound: number): Float32Array {
    return initValues(this.store.seed, name, size, { kind: 'uniform', bound });
  }

  conv2d(name: string, inShape: Shape3, opts: ConvOpts): Layer {
    const tf = this.tf;
    const [h, w, ci] = inShape;
    const { filters: co, kernel: k } = opts;
    const stride = opts.stride ?? 1;
    const pad = (k - 1) >> 1;
    const ho = convOut(h, k, stride);
    const wo = convOut(w, k, stride);
    if (ho < 1 || wo < 1) throw new TinyProtoError('E_SHAPE', `${name}: input ${h}x${w} too small`);
    const filter = this.store.add(`${name}.weight`, [k, k, ci, co], this.heNormal(`${name}.weight`, k * k * ci * co, k * k * co), true);
    let bias: Variable | null = null;
    if (opts.bias === true) bias = this.store.add(`${name}.bias`, [co], new Float32Array(co), true);
    this.countFlops(name, 2 * ho * wo * k * k * ci * co);
    const shape: Shape3 = [ho, wo, co];
    return {
      shape,
      apply: (x) => {
        const y = tf.conv2d(x, filter as Tensor4D, stride, pad, 'NHWC', 1, 'floor');
        return bias === null ? y : tf.add(y, bias);
      },
    };
  }

  /** Depthwise conv, channel multiplier 1, no bias. */
  depthwise(name: string, inShape: Shape3, opts: { kernel: number; stride?: number }): Layer {
    const tf = this.tf;
    const [h, w, c] = inShape;
    const k = opts.kernel;
    const stride = opts.stride ?? 1;
    const pad = (k - 1) >> 1;
    const ho = convOut(h, k, stride);
    const wo = convOut(w, k, stride);
    if (ho < 1 || wo < 1) throw new TinyProtoError('E_SHAPE', `${name}: input ${h}x${w} too small`);
    // torchvision: fan_out = k*k*out_channels/groups = k*k
    const filter = this.store.add(`${name}.weight`, [k, k, c, 1], this.heNormal(`${name}.weight`, k * k * c, k * k), true);
    this.countFlops(name, 2 * ho * wo * k * k * c);
    return {
      shape: [ho, wo, c],
      apply: (x) => tf.depthwiseConv2d(x, filter as TfCore.Tensor4D, stride, pad, 'NHWC', 1, 'floor'),
    };
  }

  batchNorm(name: string, inShape: Shape3): BatchNormLayer {
    return new BatchNormLayer(this.tf, this.store, name, inShape);
  }

  /** Linear layer like PyTorch nn.Linear: weight [in, out] ~ U(+-1/sqrt(in)), bias likewise. */
  dense(name: string, inDim: number, outDim: number): Layer2D {
    const tf = this.tf;
    const bound = 1 / Math.sqrt(inDim);
    const weight = this.store.add(`${name}.weight`, [inDim, outDim], this.uniform(`${name}.weight`, inDim * outDim, bound), true);
    const bias = this.store.add(`${name}.bias`, [outDim], this.uniform(`${name}.bias`, outDim, bound), true);
    this.countFlops(name, 2 * inDim * outDim);
    return { inDim, outDim, apply: (x) => tf.add(tf.matMul(x, weight as Tensor2D), bias) };
  }
}

// ---- parameter-free layers -------------------------------------------------------------

export function relu(tf: Tf, x: Tensor4D): Tensor4D {
  return tf.relu(x);
}

export function relu6(tf: Tf, x: Tensor4D): Tensor4D {
  return tf.relu6(x);
}

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
