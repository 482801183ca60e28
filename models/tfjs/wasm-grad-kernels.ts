/**
 * Gradient kernels missing from @tensorflow/tfjs-backend-wasm 4.22:
 *   Conv2DBackpropFilter, DepthwiseConv2dNativeBackpropFilter, DepthwiseConv2dNativeBackpropInput,
 * plus (by default) a replacement for its native Conv2DBackpropInput, a plain C++ loop that is
 * 3-6x slower than the forward convolution.
 *
 * Each is composed from kernels the wasm backend does have (Conv2D and DepthwiseConv2dNative
 * with dilations, StridedSlice, Transpose, Reshape, Reverse, Sum, Fill) and two JS copy loops
 * on the wasm heap (spatial pad/crop/zero-dilation, and phase interleaving). The
 * kernels call the wasm backend's own kernel functions directly on TensorInfos (no Tensor
 * wrapping, nothing goes through the engine), so:
 *   - inputs are never disposed: they belong to the engine;
 *   - every intermediate TensorInfo returned by a kernel function holds exactly one backend
 *     reference (Reshape aliases the data and increments its refCount), and is released with
 *     `backend.disposeData` once; the final output keeps its single reference, which the
 *     engine takes over when it wraps the result in a Tensor. No output aliases an input.
 *
 * Math (NHWC; filter [kh, kw, ci, co]; depthwise filter [kh, kw, C, M]), with xpad = x padded
 * (or cropped) to exactly the rows/cols the forward pass reads, i.e. (oh-1)*s + kh rows:
 *   dW[kh,kw,ci,co] = sum_{b,oh,ow} xpad[b, oh*s+kh, ow*s+kw, ci] * dy[b,oh,ow,co]
 *     = conv2d(input = xpad^T [ci,H,W,B], filter = dy^T [oh,ow,B,co], stride 1, dilation s, valid)
 *   depthwise dW: a JS loop over the wasm heap (see depthwiseFilterGradJS).
 *   depthwise dx = depthwise(pad(zero-dilate(dy, s)), flip(W)) (channels C*M, then a sum over M).
 *   conv dx, stride 1: conv2d(pad(dy), flip(W)^T); stride s > 1: s*s polyphase convolutions
 *     with sub-filters (no multiplications by inserted zeros), interleaved by a JS copy.
 * Only dilations 1 and dataFormat NHWC (what tfjs gradients use) are supported.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BACKEND } from './wasm-kernel-scope.ts';
import { conv2DBackpropFilter, depthwiseBackpropFilter } from './wasm-filter-grads.ts';
import { conv2DBackpropInput, depthwiseBackpropInput } from './wasm-input-grads.ts';

export const WASM_GRAD_KERNEL_NAMES = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

const MISSING: readonly tf.KernelConfig[] = [
  { kernelName: 'Conv2DBackpropFilter', backendName: BACKEND, kernelFunc: conv2DBackpropFilter as tf.KernelFunc },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    backendName: BACKEND,
    kernelFunc: depthwiseBackpropFilter as tf.KernelFunc,
  },
  {
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    backendName: BACKEND,
    kernelFunc: depthwiseBackpropInput as tf.KernelFunc,
  },
];

const FAST_BACKPROP_INPUT: tf.KernelConfig = {
  kernelName: 'Conv2DBackpropInput',
  backendName: BACKEND,
  kernelFunc: conv2DBackpropInput as tf.KernelFunc,
};

export interface WasmGradKernelOptions {
  /**
   * Replace the wasm backend's native Conv2DBackpropInput (a plain C++ loop, 3-6x slower than
   * the forward convolution) with one built on the XNNPACK Conv2D kernel. Default true.
   * false restores the native kernel if it was replaced.
   */
  fastConv2DBackpropInput?: boolean;
}

let nativeBackpropInput: tf.KernelConfig | undefined;

/**
 * Registers the three missing gradient kernels for backend 'wasm' (and, by default, the faster
 * Conv2DBackpropInput). Idempotent: a kernel already present in tfjs-core's process-global
 * kernel registry, ours or a native one from a newer tfjs-backend-wasm, is left alone. Does not
 * need the wasm backend to be initialised yet.
 */
export function registerWasmGradKernels(opts: WasmGradKernelOptions = {}): void {
  for (const config of MISSING) {
    if (tf.getKernel(config.kernelName, BACKEND) === undefined) tf.registerKernel(config);
  }
  const fast = opts.fastConv2DBackpropInput ?? true;
  const current = tf.getKernel(FAST_BACKPROP_INPUT.kernelName, BACKEND);
  const isOurs = current?.kernelFunc === FAST_BACKPROP_INPUT.kernelFunc;
  if (fast && !isOurs) {
    if (current !== undefined) {
      nativeBackpropInput = current;
      tf.unregisterKernel(FAST_BACKPROP_INPUT.kernelName, BACKEND);
    }
    tf.registerKernel(FAST_BACKPROP_INPUT);
  } else if (!fast && isOurs) {
    tf.unregisterKernel(FAST_BACKPROP_INPUT.kernelName, BACKEND);
    if (nativeBackpropInput !== undefined) {
      tf.registerKernel(nativeBackpropInput);
      // The engine runs setupFuncs when a backend initialises; if wasm already did so while our
      // kernel was registered, the native kernel's wasm binding was never set up.
      const initialised = tf.engine().registry[BACKEND];
      if (initialised !== undefined) nativeBackpropInput.setupFunc?.(initialised);
    }
  }
}
