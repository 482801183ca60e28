/**
 * The filter-gradient kernels for the wasm backend (registered by wasm-grad-kernels.ts, whose
 * header gives the math): Conv2DBackpropFilter from the wasm Conv2D kernel, and
 * DepthwiseConv2dNativeBackpropFilter as a JS loop over the wasm heap.
 */
import { fail, gradKernelInputs, withScope, type ConvGeometry, type KernelArgs, type KernelScope, type TensorInfo } from './wasm-kernel-scope.ts';

/** x padded/cropped to exactly the (outH-1)*sh+kh rows and (outW-1)*sw+kw cols the forward conv reads. */
function paddedInput(s: KernelScope, x: TensorInfo, g: ConvGeometry): TensorInfo {
  const needH = (g.outH - 1) * g.sh + g.kh;
  const needW = (g.outW - 1) * g.sw + g.kw;
  if (g.top === 0 && g.left === 0 && needH === g.inH && needW === g.inW) return s.reshape(x, [...x.shape]);
  return s.scatter(x, needH, needW, g.top, g.left);
}

export function conv2DBackpropFilter(args: KernelArgs): TensorInfo {
  const { a: x, b: dy, g } = gradKernelInputs(args, 'Conv2DBackpropFilter', 'filter', false);
  return withScope(args.backend, (s) => {
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

export function depthwiseBackpropFilter(args: KernelArgs): TensorInfo {
  const { a: x, b: dy, xShape, filterShape, g } = gradKernelInputs(args, 'DepthwiseConv2dNativeBackpropFilter', 'filter', true);
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') fail('DepthwiseConv2dNativeBackpropFilter (wasm): float32 only');
  return withScope(args.backend, (s) => {
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
