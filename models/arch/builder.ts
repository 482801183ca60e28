/**
 * The layer vocabulary every backbone is written in (models/arch/zoo.ts), and the layer rules
 * both engines share, so that a state is interchangeable between them: parameter names, shapes
 * and initialisation, output sizes, batch-norm constants and FLOP counting. Each engine
 * implements `ArchBuilder` once: the ONNX Runtime builder (models/ort/net.ts) emits graph nodes
 * with their backward pass; the TensorFlow.js builder (models/tfjs/net.ts) creates its layers.
 *
 * Conventions:
 * - parameters are stored in TensorFlow layout (conv [k, k, cin, cout], depthwise [k, k, c, 1],
 *   dense [in, out]) under PyTorch state_dict names (`stem.conv.weight`, `stem.bn.running_mean`);
 * - convolutions have no bias (every one is followed by batch norm) and symmetric zero padding
 *   (k-1)/2 with floor rounding (PyTorch `padding=k//2`, never TF 'same');
 * - batch norm in the PyTorch convention: eps 1e-5, momentum 0.1, training mode normalises with
 *   the biased batch variance, the running variance is updated with the unbiased one;
 * - FLOPs count conv / depthwise / dense multiply-adds x 2 only (BN, activations, adds and
 *   pooling are not counted), the usual convention for MFLOP tables.
 */
import { TinyProtoError } from '../../common/errors.ts';
import type { Init } from '../init.ts';

export const BN_EPS = 1e-5;
export const BN_MOMENTUM = 0.1;

/** The per-image shape of a 4-D activation: channels, height, width. */
export interface FeatureMap {
  readonly c: number;
  readonly h: number;
  readonly w: number;
}

/** The per-image shape of a 2-D activation. */
export interface FeatureVec {
  readonly dim: number;
}

export interface ConvOpts {
  readonly filters: number;
  readonly kernel: number;
  readonly stride?: number;
  /** Depthwise (channel multiplier 1): `filters` must equal the input channels. */
  readonly depthwise?: boolean;
}

export interface ParamDef {
  readonly name: string;
  readonly shape: readonly number[];
  readonly trainable: boolean;
  /** How the parameter is initialised (models/init.ts). */
  readonly init: Init;
}

/** The operations a backbone is written in; `V` is an engine's 4-D value, `U` its 2-D value. */
export interface ArchBuilder<V extends FeatureMap, U extends FeatureVec> {
  /** The image input, [N, h, w, c] NHWC as the engine interface passes images. */
  imageInput(h: number, w: number, c: number): V;
  /** Convolution without bias, parameter `${name}.weight` (planConv). */
  conv(name: string, x: V, opts: ConvOpts): V;
  /** Batch norm over channels (planBatchNorm). */
  batchNorm(name: string, x: V): V;
  /** Linear layer y = x W + b (planDense). */
  dense(name: string, x: U, outDim: number): U;
  relu(x: V): V;
  /** min(max(x, 0), 6); the gradient passes where 0 < x <= 6 (as tfjs). */
  relu6(x: V): V;
  add(a: V, b: V): V;
  /** Concatenate along channels. */
  concat(a: V, b: V): V;
  /** Split channels into [first `at`, rest]. */
  split(x: V, at: number): [V, V];
  /** PyTorch channel shuffle: view(N, g, C/g, H, W).transpose(1, 2). */
  channelShuffle(x: V, groups: number): V;
  globalAvgPool(x: V): U;
}

/** Symmetric padding of a convolution (PyTorch `padding=k//2` for odd k). */
function convPad(kernel: number): number {
  return (kernel - 1) >> 1;
}

/** Output size of a conv with symmetric padding (k-1)/2 (PyTorch floor rounding). */
export function convOut(size: number, kernel: number, stride: number): number {
  return Math.floor((size + 2 * convPad(kernel) - kernel) / stride) + 1;
}

/** Everything about one convolution that does not depend on the engine. */
export interface ConvPlan {
  readonly weight: ParamDef;
  readonly kernel: number;
  readonly stride: number;
  readonly pad: number;
  readonly depthwise: boolean;
  readonly out: FeatureMap;
  /** Forward FLOPs per image. */
  readonly flops: number;
}

export function planConv(name: string, x: FeatureMap, opts: ConvOpts): ConvPlan {
  const k = opts.kernel;
  const s = opts.stride ?? 1;
  const dw = opts.depthwise === true;
  const ci = x.c;
  const co = dw ? ci : opts.filters;
  const ho = convOut(x.h, k, s);
  const wo = convOut(x.w, k, s);
  if (ho < 1 || wo < 1) throw new TinyProtoError('E_SHAPE', `${name}: input ${x.h}x${x.w} too small`);
  // He-normal with torchvision's fan_out = k*k*cout/groups
  const weight: ParamDef = { name: `${name}.weight`, shape: dw ? [k, k, ci, 1] : [k, k, ci, co], trainable: true, init: { kind: 'he', fanOut: dw ? k * k : k * k * co } };
  return { weight, kernel: k, stride: s, pad: convPad(k), depthwise: dw, out: { c: co, h: ho, w: wo }, flops: 2 * ho * wo * k * k * (dw ? ci : ci * co) };
}

/** A batch norm's parameters in creation order: weight, bias (trainable), running_mean, running_var. */
export interface BatchNormPlan {
  readonly weight: ParamDef;
  readonly bias: ParamDef;
  readonly runningMean: ParamDef;
  readonly runningVar: ParamDef;
}

export function planBatchNorm(name: string, c: number): BatchNormPlan {
  const def = (suffix: string, trainable: boolean, value: number): ParamDef => ({ name: `${name}.${suffix}`, shape: [c], trainable, init: { kind: 'const', value } });
  return { weight: def('weight', true, 1), bias: def('bias', true, 0), runningMean: def('running_mean', false, 0), runningVar: def('running_var', false, 1) };
}

/** Like PyTorch nn.Linear: weight [in, out] and bias ~ U(+-1/sqrt(in)). */
export interface DensePlan {
  readonly weight: ParamDef;
  readonly bias: ParamDef;
  readonly flops: number;
}

export function planDense(name: string, inDim: number, outDim: number): DensePlan {
  const init = { kind: 'uniform', bound: 1 / Math.sqrt(inDim) } as const;
  return {
    weight: { name: `${name}.weight`, shape: [inDim, outDim], trainable: true, init },
    bias: { name: `${name}.bias`, shape: [outDim], trainable: true, init },
    flops: 2 * inDim * outDim,
  };
}

/** Number of values of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
