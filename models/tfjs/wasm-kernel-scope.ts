/**
 * The machinery shared by the wasm gradient kernels (wasm-grad-kernels.ts): a scope that runs
 * the wasm backend's own kernel functions on TensorInfos and owns their outputs, the spatial
 * scatter copy on the wasm heap, and the convolution geometry read from a kernel's attributes.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TinyProtoError } from '../../common/errors.ts';

export type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
export type Shape4 = [number, number, number, number];

/** The part of the wasm backend these kernels use. */
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

/** What tfjs passes a kernel function. */
export interface KernelArgs {
  inputs: tf.NamedTensorInfoMap;
  backend: unknown;
  attrs?: tf.NamedAttrMap;
}

export const BACKEND = 'wasm';

export function fail(msg: string, details?: Record<string, unknown>): never {
  throw new TinyProtoError('E_BACKEND', msg, details);
}

/** A gradient kernel's inputs with the forward convolution's shapes and geometry. */
export interface GradKernelInputs {
  /** 'filter' kernels: x; 'input' kernels: dy. */
  readonly a: TensorInfo;
  /** 'filter' kernels: dy; 'input' kernels: the filter. */
  readonly b: TensorInfo;
  readonly xShape: Shape4;
  readonly filterShape: Shape4;
  readonly g: ConvGeometry;
}

/**
 * Read a gradient kernel's arguments: filter gradients take (x, dy) and attrs.filterShape, input
 * gradients take (dy, filter) and attrs.inputShape.
 */
export function gradKernelInputs(args: KernelArgs, kernel: string, kind: 'filter' | 'input', depthwise: boolean): GradKernelInputs {
  const [first, second] = kind === 'filter' ? ['x', 'dy'] : ['dy', 'filter'];
  const a = args.inputs[first];
  const b = args.inputs[second];
  if (a === undefined || b === undefined) fail(`${kernel} (wasm): missing input ${first} or ${second}`);
  const attrs = (args.attrs ?? {}) as Attrs;
  const dy = kind === 'filter' ? b : a;
  let xShape: Shape4;
  let filterShape: Shape4;
  if (kind === 'filter') {
    filterShape = shape4(attrs['filterShape'] as number[], 'filterShape');
    xShape = shape4(a.shape, 'x');
  } else {
    xShape = shape4(attrs['inputShape'] as number[], 'inputShape');
    filterShape = shape4(b.shape, 'filter');
  }
  return { a, b, xShape, filterShape, g: geometry(xShape, filterShape, shape4(dy.shape, 'dy'), attrs, depthwise, kernel) };
}

function pair(v: unknown, what: string): [number, number] {
  if (typeof v === 'number') return [v, v];
  if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'number' && typeof v[1] === 'number') {
    return [v[0], v[1]];
  }
  return fail(`wasm grad kernel: bad ${what} ${JSON.stringify(v)}`);
}

function shape4(s: readonly number[], what: string): Shape4 {
  if (s.length !== 4) fail(`wasm grad kernel: ${what} must be rank 4, got shape [${s.join(',')}]`);
  return [s[0]!, s[1]!, s[2]!, s[3]!];
}

/**
 * Runs wasm kernel functions and owns their outputs (one backend reference each).
 * `release(keep)` frees every owned output except `keep`.
 */
export class KernelScope {
  private readonly owned: TensorInfo[] = [];
  constructor(readonly backend: WasmBackendLike) {}

  /** A new owned float32 output on the wasm heap. */
  alloc(shape: number[]): TensorInfo {
    const out = this.backend.makeOutput(shape, 'float32');
    this.owned.push(out);
    return out;
  }

  run(kernelName: string, inputs: Record<string, TensorInfo> | TensorInfo[], attrs: Attrs = {}): TensorInfo {
    const config = tf.getKernel(kernelName, BACKEND);
    if (config === undefined) fail(`wasm grad kernel: kernel '${kernelName}' is not registered for backend 'wasm'`);
    const out = config.kernelFunc({
      inputs: inputs as tf.NamedTensorInfoMap, // Concat takes an array
      backend: this.backend,
      attrs: attrs as tf.NamedAttrMap,
    });
    if (Array.isArray(out)) {
      for (const o of out) this.owned.push(o);
      fail(`wasm grad kernel: '${kernelName}' returned ${out.length} outputs, expected 1`);
    }
    this.owned.push(out);
    return out;
  }

  reshape(x: TensorInfo, shape: number[]): TensorInfo {
    return this.run('Reshape', { x }, { shape });
  }
  transpose(x: TensorInfo, perm: number[]): TensorInfo {
    return this.run('Transpose', { x }, { perm });
  }
  sum(x: TensorInfo, axis: number): TensorInfo {
    return this.run('Sum', { x }, { axis: [axis], keepDims: false });
  }

  /**
   * Spatial scatter of an NHWC float32 tensor into a new zero background (one JS pass; the
   * wasm PadV2/Slice kernels are generic and several times slower):
   *   out[b, offH + i*stepH, offW + j*stepW, :] = x[b, i, j, :]   (positions outside are dropped)
   * step 1 with offsets = pad (offset > 0) or crop (offset < 0); step s = zero-dilation.
   */
  scatter(x: TensorInfo, outH: number, outW: number, offH: number, offW: number, stepH = 1, stepW = 1): TensorInfo {
    const [B, H, W, C] = shape4(x.shape, 'scatter input');
    if (x.dtype !== 'float32') fail(`wasm grad kernel: expected float32, got ${x.dtype}`);
    if (outH <= 0 || outW <= 0) fail(`wasm grad kernel: empty scatter output ${outH}x${outW}`);
    const out = this.alloc([B, outH, outW, C]);
    // Views only after the allocation: growing the wasm heap detaches earlier views.
    const dst = this.backend.typedArrayFromHeap(out);
    const src = this.backend.typedArrayFromHeap(x);
    const covers = (off: number, step: number, n: number, len: number) => step === 1 && off <= 0 && off + n >= len;
    if (!covers(offH, stepH, H, outH) || !covers(offW, stepW, W, outW)) dst.fill(0);
    // Source columns j with 0 <= offW + j*stepW < outW.
    const j0 = Math.max(0, Math.ceil(-offW / stepW));
    const j1 = Math.min(W, Math.floor((outW - 1 - offW) / stepW) + 1);
    if (j1 <= j0) return out;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < H; i++) {
        const oi = offH + i * stepH;
        if (oi < 0 || oi >= outH) continue;
        const srcRow = (b * H + i) * W;
        const dstRow = (b * outH + oi) * outW;
        if (stepW === 1) {
          dst.set(src.subarray((srcRow + j0) * C, (srcRow + j1) * C), (dstRow + offW + j0) * C);
        } else {
          for (let j = j0; j < j1; j++) {
            const from = (srcRow + j) * C;
            const to = (dstRow + offW + j * stepW) * C;
            for (let c = 0; c < C; c++) dst[to + c] = src[from + c]!;
          }
        }
      }
    }
    return out;
  }

  release(keep?: TensorInfo): void {
    for (const t of this.owned) {
      if (t !== keep) this.backend.disposeData(t.dataId);
    }
    this.owned.length = 0;
  }
}

/** Runs `body` in a scope; on success every intermediate but the result is freed, on error all are. */
export function withScope(backend: unknown, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend as WasmBackendLike);
  let result: TensorInfo | undefined;
  try {
    result = body(scope);
    return result;
  } finally {
    scope.release(result);
  }
}
export interface ConvGeometry {
  readonly batch: number;
  readonly inH: number;
  readonly inW: number;
  readonly outH: number;
  readonly outW: number;
  readonly kh: number;
  readonly kw: number;
  readonly sh: number;
  readonly sw: number;
  readonly top: number;
  readonly left: number;
}
function geometry(
  xShape: Shape4,
  filterShape: Shape4,
  dyShape: Shape4,
  attrs: Attrs,
  depthwise: boolean,
  kernel: string,
): ConvGeometry {
  const dataFormat = attrs['dataFormat'];
  if (dataFormat !== undefined && dataFormat !== 'NHWC') {
    fail(`${kernel} (wasm): only dataFormat NHWC is supported, got ${String(dataFormat)}`);
  }
  const dilations = attrs['dilations'] === undefined || attrs['dilations'] === null ? [1, 1] : pair(attrs['dilations'], 'dilations');
  if (dilations[0] !== 1 || dilations[1] !== 1) {
    fail(`${kernel} (wasm): dilations other than 1 are not supported, got [${dilations.join(',')}]`);
  }
  const strides = pair(attrs['strides'], 'strides');
  const info = tf.backend_util.computeConv2DInfo(
    xShape,
    filterShape,
    strides,
    [1, 1],
    attrs['pad'] as Pad,
    attrs['dimRoundingMode'] as Rounding,
    depthwise,
    'channelsLast',
  );
  const expected = [xShape[0], info.outHeight, info.outWidth, info.outChannels];
  if (expected.some((v, i) => v !== dyShape[i])) {
    fail(`${kernel} (wasm): dy shape [${dyShape.join(',')}] does not match the forward output [${expected.join(',')}]`);
  }
  return {
    batch: xShape[0],
    inH: xShape[1],
    inW: xShape[2],
    outH: info.outHeight,
    outW: info.outWidth,
    kh: info.filterHeight,
    kw: info.filterWidth,
    sh: info.strideHeight,
    sw: info.strideWidth,
    top: info.padInfo.top,
    left: info.padInfo.left,
  };
}

/** A stride-1, unpadded NHWC convolution. */
export const CONV_VALID_1 = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };
