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
import { TinyProtoError } from '../../common/errors.ts';

type TensorInfo = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Pad = 'same' | 'valid' | number | tf.backend_util.ExplicitPadding;
type Rounding = 'floor' | 'round' | 'ceil' | undefined;
type Shape4 = [number, number, number, number];

/** The part of the wasm backend these kernels use. */
interface WasmBackendLike {
  disposeData(dataId: object, force?: boolean): boolean;
  incRef(dataId: object): void;
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}

const BACKEND = 'wasm';
export const WASM_GRAD_KERNEL_NAMES = [
  'Conv2DBackpropFilter',
  'DepthwiseConv2dNativeBackpropFilter',
  'DepthwiseConv2dNativeBackpropInput',
] as const;

function fail(msg: string, details?: Record<string, unknown>): never {
  throw new TinyProtoError('E_BACKEND', msg, details);
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
class KernelScope {
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
function withScope(backend: unknown, body: (s: KernelScope) => TensorInfo): TensorInfo {
  const scope = new KernelScope(backend as WasmBackendLike);
  let result: TensorInfo | undefined;
  try {
    result = body(scope);
    return result;
  } finally {
    scope.release(result);
  }
}

interface ConvGeometry {
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

/** x padded/cropped to exactly the (outH-1)*sh+kh rows and (outW-1)*sw+kw cols the forward conv reads. */
function paddedInput(s: KernelScope, x: TensorInfo, g: ConvGeometry): TensorInfo {
  const needH = (g.outH - 1) * g.sh + g.kh;
  const needW = (g.outW - 1) * g.sw + g.kw;
  if (g.top === 0 && g.left === 0 && needH === g.inH && needW === g.inW) return s.reshape(x, [...x.shape]);
  return s.scatter(x, needH, needW, g.top, g.left);
}

function conv2DBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as Attrs;
  const x = inputs['x'];
  const dy = inputs['dy'];
  if (x === undefined || dy === undefined) fail('Conv2DBackpropFilter (wasm): missing input x or dy');
  const filterShape = shape4(attrs['filterShape'] as number[], 'filterShape');
  const xShape = shape4(x.shape, 'x');
  const g = geometry(xShape, filterShape, shape4(dy.shape, 'dy'), attrs, false, 'Conv2DBackpropFilter');
  return withScope(backend, (s) => {
    const xp = paddedInput(s, x, g); // [B, needH, needW, ci]
    const xt = s.transpose(xp, [3, 1, 2, 0]); // [ci, needH, needW, B]
    const dyt = s.transpose(dy, [1, 2, 0, 3]); // [oh, ow, B, co]
    const r = s.run('Conv2D', { x: xt, filter: dyt }, {
      strides: [1, 1],
      pad: 'valid',
      dataFormat: 'NHWC',
      dilations: [g.sh, g.sw],
      dimRoundingMode: undefined,
    }); // [ci, kh, kw, co]
    if (r.shape[1] !== g.kh || r.shape[2] !== g.kw) {
      fail(`Conv2DBackpropFilter (wasm): internal shape error [${r.shape.join(',')}]`);
    }
    return s.transpose(r, [1, 2, 0, 3]); // [kh, kw, ci, co]
  });
}

function depthwiseBackpropFilter(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as Attrs;
  const x = inputs['x'];
  const dy = inputs['dy'];
  if (x === undefined || dy === undefined) fail('DepthwiseConv2dNativeBackpropFilter (wasm): missing input x or dy');
  const filterShape = shape4(attrs['filterShape'] as number[], 'filterShape');
  const xShape = shape4(x.shape, 'x');
  const g = geometry(xShape, filterShape, shape4(dy.shape, 'dy'), attrs, true, 'DepthwiseConv2dNativeBackpropFilter');
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') fail('DepthwiseConv2dNativeBackpropFilter (wasm): float32 only');
  return withScope(backend, (s) => {
    const out = s.alloc([g.kh, g.kw, xShape[3], filterShape[3]]);
    depthwiseFilterGradJS(
      s.backend.typedArrayFromHeap(x),
      s.backend.typedArrayFromHeap(dy),
      s.backend.typedArrayFromHeap(out),
      g,
      xShape[3],
      filterShape[3],
    );
    return out;
  });
}

/**
 * dW[a, e, c, m] = sum_{b,i,j} x[b, i*sh + a - top, j*sw + e - left, c] * dy[b, i, j, c*M + m]
 * as a plain JS loop over the wasm heap (about 0.6 GMAC/s; reads x and dy in place). Composing
 * it from wasm kernels (two large transposes and a depthwise conv with an oh x ow kernel)
 * measured 1.7-2.5x slower and needs two extra copies of the activations.
 */
function depthwiseFilterGradJS(
  xv: Float32Array,
  dyv: Float32Array,
  dst: Float32Array,
  g: ConvGeometry,
  C: number,
  M: number,
): void {
  const { batch: B, inH: H, inW: W, outH: oh, outW: ow, kh, kw, sh, sw, top, left } = g;
  const CM = C * M;
  const acc = new Float64Array(CM);
  for (let a = 0; a < kh; a++) {
    const i0 = Math.max(0, Math.ceil((top - a) / sh));
    const i1 = Math.min(oh, Math.floor((H - 1 + top - a) / sh) + 1);
    for (let e = 0; e < kw; e++) {
      const j0 = Math.max(0, Math.ceil((left - e) / sw));
      const j1 = Math.min(ow, Math.floor((W - 1 + left - e) / sw) + 1);
      acc.fill(0);
      for (let b = 0; b < B; b++) {
        for (let i = i0; i < i1; i++) {
          const ih = i * sh + a - top;
          let xo = ((b * H + ih) * W + (j0 * sw + e - left)) * C;
          let dyo = ((b * oh + i) * ow + j0) * CM;
          const xStep = sw * C;
          if (M === 1) {
            for (let j = j0; j < j1; j++, xo += xStep, dyo += C) {
              for (let c = 0; c < C; c++) acc[c]! += xv[xo + c]! * dyv[dyo + c]!;
            }
          } else {
            for (let j = j0; j < j1; j++, xo += xStep, dyo += CM) {
              for (let c = 0; c < C; c++) {
                const xval = xv[xo + c]!;
                for (let m = 0; m < M; m++) acc[c * M + m]! += xval * dyv[dyo + c * M + m]!;
              }
            }
          }
        }
      }
      const base = (a * kw + e) * CM;
      for (let k = 0; k < CM; k++) dst[base + k] = acc[k]!;
    }
  }
}

/**
 * For the input gradient of a convolution: dy zero-dilated by the stride (dy[o] at o*s) and
 * padded/cropped so that a stride-1 'valid' correlation with the spatially flipped filter yields
 * exactly the input window: [B, H + kh - 1, W + kw - 1, channels].
 */
function dilateAndPadForInputGrad(s: KernelScope, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  // P[j] = d[j - before] with d[o*s] = dy[o], so dy row o lands at row o*s + before.
  return s.scatter(dy, g.inH + g.kh - 1, g.inW + g.kw - 1, g.kh - 1 - g.top, g.kw - 1 - g.left, g.sh, g.sw);
}

function conv2DBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as Attrs;
  const dy = inputs['dy'];
  const filter = inputs['filter'];
  if (dy === undefined || filter === undefined) fail('Conv2DBackpropInput (wasm): missing input dy or filter');
  const xShape = shape4(attrs['inputShape'] as number[], 'inputShape');
  const filterShape = shape4(filter.shape, 'filter');
  const g = geometry(xShape, filterShape, shape4(dy.shape, 'dy'), attrs, false, 'Conv2DBackpropInput');
  return withScope(backend, (s) =>
    g.sh === g.sw && g.sh > 1 ? backpropInputPolyphase(s, dy, filter, g) : backpropInputDilated(s, dy, filter, g),
  );
}

const CONV_VALID_1 = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', dilations: [1, 1], dimRoundingMode: undefined };

/** Stride 1 (or unequal strides): correlation of the zero-dilated dy with the flipped filter. */
function backpropInputDilated(s: KernelScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const p = dilateAndPadForInputGrad(s, dy, g); // [B, H+kh-1, W+kw-1, co]
  const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
  const f = s.transpose(flipped, [0, 1, 3, 2]); // [kh, kw, co, ci]
  const r = s.run('Conv2D', { x: p, filter: f }, CONV_VALID_1); // [B, H, W, ci]
  if (r.shape[1] !== g.inH || r.shape[2] !== g.inW) {
    fail(`Conv2DBackpropInput (wasm): internal shape error [${r.shape.join(',')}]`);
  }
  return r;
}

/**
 * Stride s > 1 in both dims, without multiplying zeros: input rows i = s*q + a (phase a) only
 * receive filter taps k = r + s*m with r = (a + padTop) mod s, so each of the s*s phases is a
 * stride-1 correlation of dy with a sub-filter of about (k/s)^2 taps. The phases, each
 * [B, ceil(H/s), ceil(W/s), ci], are interleaved into [B, H, W, ci] by a JS copy (the wasm
 * DepthToSpace and 6-D Transpose kernels are ~10x slower than the convolutions here).
 * In 1D: dx[s*q + a] = sum_m dy[q + c - m] * w[r + s*m], c = floor((a + padTop) / s).
 */
/** out[b, qh*st + ah, qw*st + aw, :] = phases[ah*st + aw][b, qh, qw, :], cropped to outShape. */
function interleavePhases(s: KernelScope, phases: TensorInfo[], st: number, outShape: Shape4): TensorInfo {
  const [B, H, W, C] = outShape;
  const out = s.alloc([B, H, W, C]);
  // Views only after the allocation: growing the wasm heap detaches earlier views.
  const dst = s.backend.typedArrayFromHeap(out);
  const src = phases.map((p) => s.backend.typedArrayFromHeap(p));
  const qh = phases[0]!.shape[1]!;
  const qw = phases[0]!.shape[2]!;
  for (let ah = 0; ah < st; ah++) {
    for (let aw = 0; aw < st; aw++) {
      const p = src[ah * st + aw]!;
      for (let b = 0; b < B; b++) {
        for (let i = 0; i < qh; i++) {
          const row = i * st + ah;
          if (row >= H) break;
          let from = ((b * qh + i) * qw) * C;
          for (let j = 0; j < qw; j++, from += C) {
            const col = j * st + aw;
            if (col >= W) break;
            const to = ((b * H + row) * W + col) * C;
            for (let c = 0; c < C; c++) dst[to + c] = p[from + c]!;
          }
        }
      }
    }
  }
  return out;
}

function backpropInputPolyphase(s: KernelScope, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const st = g.sh;
  const B = g.batch;
  const ci = filter.shape[2]!;
  const co = filter.shape[3]!;
  const qh = Math.ceil(g.inH / st);
  const qw = Math.ceil(g.inW / st);
  const phase1d = (a: number, pad: number, k: number) => {
    const r = (a + pad) % st;
    const c = Math.floor((a + pad) / st);
    const taps = r < k ? Math.ceil((k - r) / st) : 0;
    return { r, taps, before: taps - 1 - c };
  };
  const phases: TensorInfo[] = [];
  for (let ah = 0; ah < st; ah++) {
    for (let aw = 0; aw < st; aw++) {
      const ph = phase1d(ah, g.top, g.kh);
      const pw = phase1d(aw, g.left, g.kw);
      if (ph.taps === 0 || pw.taps === 0) {
        phases.push(s.run('Fill', {}, { shape: [B, qh, qw, ci], value: 0, dtype: 'float32' }));
        continue;
      }
      const sub = s.run('StridedSlice', { x: filter }, {
        begin: [ph.r, pw.r, 0, 0],
        end: [g.kh, g.kw, ci, co],
        strides: [st, st, 1, 1],
        beginMask: 0,
        endMask: 0,
        ellipsisMask: 0,
        newAxisMask: 0,
        shrinkAxisMask: 0,
      }); // [taps_h, taps_w, ci, co]
      const flipped = s.run('Reverse', { x: sub }, { dims: [0, 1] });
      const f = s.transpose(flipped, [0, 1, 3, 2]); // [taps_h, taps_w, co, ci]
      const p = s.scatter(dy, qh + ph.taps - 1, qw + pw.taps - 1, ph.before, pw.before);
      const r = s.run('Conv2D', { x: p, filter: f }, CONV_VALID_1);
      if (r.shape[1] !== qh || r.shape[2] !== qw) {
        fail(`Conv2DBackpropInput (wasm): internal phase shape error [${r.shape.join(',')}]`);
      }
      phases.push(r);
    }
  }
  return interleavePhases(s, phases, st, [B, g.inH, g.inW, ci]);
}

function depthwiseBackpropInput(args: { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap }): TensorInfo {
  const { inputs, backend } = args;
  const attrs = (args.attrs ?? {}) as Attrs;
  const dy = inputs['dy'];
  const filter = inputs['filter'];
  if (dy === undefined || filter === undefined) fail('DepthwiseConv2dNativeBackpropInput (wasm): missing input dy or filter');
  const xShape = shape4(attrs['inputShape'] as number[], 'inputShape');
  const filterShape = shape4(filter.shape, 'filter');
  const g = geometry(xShape, filterShape, shape4(dy.shape, 'dy'), attrs, true, 'DepthwiseConv2dNativeBackpropInput');
  const C = xShape[3];
  const M = filterShape[3];
  const CM = C * M;
  return withScope(backend, (s) => {
    const p = dilateAndPadForInputGrad(s, dy, g); // [B, H+kh-1, W+kw-1, C*M]
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const f = s.reshape(flipped, [g.kh, g.kw, CM, 1]);
    const r = s.run('DepthwiseConv2dNative', { x: p, filter: f }, CONV_VALID_1); // [B, H, W, C*M]
    if (r.shape[1] !== g.inH || r.shape[2] !== g.inW) {
      fail(`DepthwiseConv2dNativeBackpropInput (wasm): internal shape error [${r.shape.join(',')}]`);
    }
    if (M === 1) return r;
    const r5 = s.reshape(r, [g.batch, g.inH, g.inW, C, M]);
    return s.sum(r5, 4); // [B, H, W, C]
  });
}

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
