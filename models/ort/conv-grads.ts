/**
 * Weight gradients of convolutions as ONNX nodes (used by net.ts). Both read the layer input X
 * [N, cin, h, w] and the output gradient dY [N, cout, ho, wo], and return the gradient in the
 * stored (TensorFlow) filter layout.
 */
import type { GraphBuilder } from './graph.ts';
import type { V4 } from './values.ts';

/** Kernel size, stride, symmetric padding and output size of one convolution. */
export interface ConvGeometry {
  readonly k: number;
  readonly s: number;
  readonly p: number;
  readonly ho: number;
  readonly wo: number;
}

/**
 * The k*k shifted (and strided) views of the zero-padded tensor `v` [A, B, h, w], each
 * [A, B, ho, wo]: view (kh, kw)[a, b, y, x] = v[a, b, y*s + kh - p, x*s + kw - p]. `use` is
 * called on each view as soon as it is emitted, so that onnxruntime (which runs nodes in
 * this order) frees each view before the next is made: one view is alive at a time, not k*k.
 */
function eachShift(g: GraphBuilder, v: string, h: number, w: number, { k, s, p, ho, wo }: ConvGeometry, use: (view: string) => string): string[] {
  const vp = p > 0 ? g.op('Pad', [v, g.constI([0, 0, p, p, 0, 0, p, p])], {}, 'pad') : v;
  if (k === 1 && s === 1 && ho === h && wo === w) return [use(vp)];
  const out: string[] = [];
  for (let kh = 0; kh < k; kh++) {
    for (let kw = 0; kw < k; kw++) {
      const starts = g.constI([kh, kw]);
      const ends = g.constI([kh + (ho - 1) * s + 1, kw + (wo - 1) * s + 1]);
      out.push(use(g.op('Slice', [vp, starts, ends, g.constI([2, 3]), g.constI([s, s])], {}, 'shift')));
    }
  }
  return out;
}

/**
 * dW[kh, kw, i, o] = sum_{n, y, x} X[n, i, y*s + kh - p, x*s + kw - p] * dY[n, o, y, x].
 * With the batch axis moved inside (X^T [cin, N, h, w], dY^T [cout, N, ho, wo]: copies of
 * whole h*w planes, cheap), each kernel offset is one GEMM with the reduction over all
 * N*ho*wo positions: dW(kh, kw)^T = dY^T [cout, N*ho*wo] x view^T [cin, N*ho*wo]^T.
 */
export function filterGrad(g: GraphBuilder, x: V4, dy: string, geom: ConvGeometry, co: number): string {
  const { k } = geom;
  const xT = g.op('Transpose', [x.name], { perm: [1, 0, 2, 3] }, 'xT');
  const dyT = g.op('Reshape', [g.op('Transpose', [dy], { perm: [1, 0, 2, 3] }, 'dyT'), g.constI([co, -1])]);
  const parts = eachShift(g, xT, x.h, x.w, geom, (v) => g.op('Gemm', [dyT, g.op('Reshape', [v, g.constI([x.c, -1])])], { transB: 1 }, 'dWt'));
  // parts: k*k of [cout, cin] -> [k*k, cout, cin] -> [k, k, cin, cout]
  const stacked = parts.length === 1 ? g.op('Reshape', [parts[0]!, g.constI([1, co, x.c])]) : g.op('Concat', parts.map((q) => g.op('Reshape', [q, g.constI([1, co, x.c])])), { axis: 0 });
  return g.op('Reshape', [g.op('Transpose', [stacked], { perm: [0, 2, 1] }), g.constI([k, k, x.c, co])], {}, 'dW');
}

/** dW[kh, kw, c, 0] = sum_{n, y, x} X[n, c, y*s + kh - p, x*s + kw - p] * dY[n, c, y, x]. */
export function depthwiseFilterGrad(g: GraphBuilder, x: V4, dy: string, geom: ConvGeometry): string {
  const { k } = geom;
  const axes = g.constI([0, 2, 3]);
  const parts = eachShift(g, x.name, x.h, x.w, geom, (v) => g.op('ReduceSum', [g.op('Mul', [v, dy]), axes], { keepdims: 0 }, 'dWdw'));
  const stacked = parts.length === 1 ? parts[0]! : g.op('Concat', parts, { axis: 0 });
  return g.op('Reshape', [stacked, g.constI([k, k, x.c, 1])]);
}
