/**
 * The input-gradient kernels for the wasm backend (registered by wasm-grad-kernels.ts, whose
 * header gives the math): Conv2DBackpropInput (dilated correlation, or polyphase for strides
 * > 1) and DepthwiseConv2dNativeBackpropInput.
 */
import { CONV_VALID_1, fail, gradKernelInputs, withScope, type ConvGeometry, type KernelArgs, type KernelScope, type Shape4, type TensorInfo } from './wasm-kernel-scope.ts';

/**
 * For the input gradient of a convolution: dy zero-dilated by the stride (dy[o] at o*s) and
 * padded/cropped so that a stride-1 'valid' correlation with the spatially flipped filter yields
 * exactly the input window: [B, H + kh - 1, W + kw - 1, channels].
 */
function dilateAndPadForInputGrad(s: KernelScope, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  // P[j] = d[j - before] with d[o*s] = dy[o], so dy row o lands at row o*s + before.
  return s.scatter(dy, g.inH + g.kh - 1, g.inW + g.kw - 1, g.kh - 1 - g.top, g.kw - 1 - g.left, g.sh, g.sw);
}

export function conv2DBackpropInput(args: KernelArgs): TensorInfo {
  const { a: dy, b: filter, g } = gradKernelInputs(args, 'Conv2DBackpropInput', 'input', false);
  return withScope(args.backend, (s) =>
    g.sh === g.sw && g.sh > 1 ? backpropInputPolyphase(s, dy, filter, g) : backpropInputDilated(s, dy, filter, g),
  );
}

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

/**
 * Stride s > 1 in both dims, without multiplying zeros: input rows i = s*q + a (phase a) only
 * receive filter taps k = r + s*m with r = (a + padTop) mod s, so each of the s*s phases is a
 * stride-1 correlation of dy with a sub-filter of about (k/s)^2 taps. The phases, each
 * [B, ceil(H/s), ceil(W/s), ci], are interleaved into [B, H, W, ci] by a JS copy (the wasm
 * DepthToSpace and 6-D Transpose kernels are ~10x slower than the convolutions here).
 * In 1D: dx[s*q + a] = sum_m dy[q + c - m] * w[r + s*m], c = floor((a + padTop) / s).
 */
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

export function depthwiseBackpropInput(args: KernelArgs): TensorInfo {
  const { a: dy, b: filter, xShape, filterShape, g } = gradKernelInputs(args, 'DepthwiseConv2dNativeBackpropInput', 'input', true);
  const C = xShape[3];
  const M = filterShape[3];
  const CM = C * M;
  return withScope(args.backend, (s) => {
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
