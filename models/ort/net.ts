/**
 * OrtNetBuilder: the zoo's layer vocabulary (ArchBuilder, models/arch/builder.ts) emitted as
 * ONNX nodes, with a hand-written backward pass per layer (reverse-mode autodiff at layer
 * granularity). One builder produces one graph:
 *
 * - mode 'train': parameters and batch-norm running statistics are graph inputs; batch norm
 *   normalises with batch moments; `backward()` emits gradients for every trainable parameter,
 *   and the caller turns them into SGD updates or exposes them as outputs.
 * - mode 'infer': batch norm uses running statistics. Parameters are graph inputs (one session
 *   serves every state), or initializers when values are given (then onnxruntime folds batch
 *   norm into the convolutions): that form is the exported inference model.
 *
 * Parameter names, layouts, initialisation, padding, batch-norm constants and FLOPs are the
 * shared layer rules of models/arch/builder.ts (TensorFlow layout); the graph transposes weights
 * to ONNX's NCHW layout itself and emits weight gradients directly in the stored layout.
 * Images enter NHWC; activations are NCHW inside the graph.
 */
import { TinyProtoError } from '../../common/errors.ts';
import { BN_EPS, BN_MOMENTUM, planBatchNorm, planConv, planDense, type ArchBuilder, type ConvOpts, type ParamDef } from '../arch/builder.ts';
import { GraphBuilder } from './graph.ts';
import { depthwiseFilterGrad, filterGrad, type ConvGeometry } from './conv-grads.ts';
import type { Mode, ParamSource, V2, V4 } from './values.ts';

export class OrtNetBuilder implements ArchBuilder<V4, V2> {
  readonly g: GraphBuilder;
  readonly params: ParamDef[] = [];
  /** Running-statistic updates of a train graph: buffer name -> new value. */
  readonly runningUpdates: { name: string; value: string }[] = [];
  flops = 0;
  private readonly tape: (() => void)[] = [];
  private readonly grads = new Map<string, string>();
  private readonly zero: string;
  private nFloat: string | null = null;
  /** Values that need no gradient (the image input). */
  private readonly noGrad = new Set<string>();
  /** How many layers consume each value (a gradient may be rescaled only with one consumer). */
  private readonly uses = new Map<string, number>();
  private readonly convOutputs = new Set<string>();
  /**
   * Values whose accumulated gradient is stored divided by a per-channel scale [C] (a batch
   * norm's gamma * rstd); the convolution that produced the value multiplies the scale into its
   * (small) weights instead of into the (large) gradient.
   */
  private readonly gradScale = new Map<string, string>();

  constructor(
    readonly mode: Mode,
    /** Parameter values baked in as initializers, or null: parameters are graph inputs. */
    private readonly source: ParamSource | null,
    graphName: string,
  ) {
    this.g = new GraphBuilder(graphName);
    this.zero = this.g.constF([0]);
  }

  get training(): boolean {
    return this.mode === 'train';
  }

  // ---- parameters and gradients ------------------------------------------------------------

  private param(def: ParamDef): string {
    const { name, shape } = def;
    if (this.params.some((p) => p.name === name)) throw new TinyProtoError('E_MODEL', `duplicate parameter name ${name}`);
    this.params.push(def);
    if (this.source === null) return this.g.input(name, shape);
    return this.g.tensor(name, shape, this.source(def));
  }

  private use(...values: string[]): void {
    for (const v of values) this.uses.set(v, (this.uses.get(v) ?? 0) + 1);
  }

  /** Add `grad` to the gradient of `value`. */
  private accumulate(value: string, grad: string): void {
    const prev = this.grads.get(value);
    this.grads.set(value, prev === undefined ? grad : this.g.op('Add', [prev, grad], {}, 'gacc'));
  }

  private record(step: () => void): void {
    if (this.training) this.tape.push(step);
  }

  /**
   * Run the tape backwards from d(loss)/d(`output`) = `seed` (plus any extra seeds on other
   * values); returns gradients by parameter name.
   */
  backward(output: string, seed: string, extra: readonly (readonly [string, string])[] = []): Map<string, string> {
    if (!this.training) throw new TinyProtoError('E_MODEL', 'backward() on an inference graph');
    this.accumulate(output, seed);
    for (const [v, s] of extra) this.accumulate(v, s);
    for (let i = this.tape.length - 1; i >= 0; i--) this.tape[i]!();
    const out = new Map<string, string>();
    for (const p of this.params) {
      if (!p.trainable) continue;
      const gr = this.grads.get(p.name);
      if (gr === undefined) throw new TinyProtoError('E_MODEL', `no gradient reaches parameter ${p.name}`);
      out.set(p.name, gr);
    }
    return out;
  }

  /** Batch size N as a float scalar, from the input's shape. */
  batchSize(x: string): string {
    if (this.nFloat === null) {
      const n = this.g.op('Slice', [this.g.op('Shape', [x]), this.g.constI([0]), this.g.constI([1])]);
      this.nFloat = this.g.op('Reshape', [this.g.op('Cast', [n], { to: 1 }), this.g.constI([], [0])], {}, 'nfloat');
    }
    return this.nFloat;
  }

  // ---- input --------------------------------------------------------------------------------

  /** Graph input `x` [N, h, w, c] (NHWC, as the engine interface passes images) -> NCHW. */
  imageInput(h: number, w: number, c: number): V4 {
    const x = this.g.input('x', ['N', h, w, c]);
    const nchw = c === 1 ? this.g.op('Reshape', [x, this.g.constI([0, 1, h, w])]) : this.g.op('Transpose', [x], { perm: [0, 3, 1, 2] });
    this.batchSize(x);
    this.noGrad.add(nchw);
    return { name: nchw, c, h, w };
  }

  /** A graph input [N, c, h, w] that receives a gradient (used by the layer gradient tests). */
  activationInput(name: string, c: number, h: number, w: number): V4 {
    this.g.input(name, ['N', c, h, w]);
    this.batchSize(name);
    return { name, c, h, w };
  }

  /** The gradient of any value, after backward(). */
  gradOf(value: string): string | undefined {
    return this.grads.get(value);
  }

  // ---- layers with parameters ---------------------------------------------------------------

  /** Conv without bias: filters [k, k, cin, cout]; depthwise when `depthwise` (filters [k, k, c, 1]). */
  conv(name: string, x: V4, opts: ConvOpts): V4 {
    const g = this.g;
    const plan = planConv(name, x, opts);
    const { kernel: k, stride: s, pad: p, depthwise: dw } = plan;
    const { c: co, h: ho, w: wo } = plan.out;
    const group = dw ? x.c : 1;
    this.use(x.name);
    const wName = this.param(plan.weight);
    this.flops += plan.flops;
    // ONNX weight layout [cout, cin/group, k, k]
    const wOnnx = g.op('Transpose', [wName], { perm: dw ? [2, 3, 0, 1] : [3, 2, 0, 1] }, 'wT');
    const convAttrs = { kernel_shape: [k, k], pads: [p, p, p, p], strides: [s, s], group };
    const y = g.op('Conv', [x.name, wOnnx], convAttrs, 'conv');
    const out: V4 = { name: y, c: co, h: ho, w: wo };
    this.convOutputs.add(y);
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      // the true output gradient is scale (per output channel) * dy when batch norm deferred it
      const scale = this.gradScale.get(y);
      // input gradient: the transposed convolution with the same weights
      if (!this.noGrad.has(x.name)) {
        const outputPadding = [x.h - ((ho - 1) * s + k - 2 * p), x.w - ((wo - 1) * s + k - 2 * p)];
        const wEff = scale === undefined ? wOnnx : g.op('Mul', [wOnnx, g.op('Reshape', [scale, g.constI([co, 1, 1, 1])])], {}, 'wScaled');
        if (s === 1 && !dw) {
          // stride 1: the input gradient is a plain convolution of dY with the spatially flipped,
          // in/out-swapped weights (onnxruntime's Conv ran 7% faster than its ConvTranspose here;
          // for depthwise convolutions ConvTranspose was the faster one)
          const swapped = g.op('Transpose', [wEff], { perm: [1, 0, 2, 3] });
          const flipped = g.op('Slice', [swapped, g.constI([-1, -1]), g.constI([-k - 1, -k - 1]), g.constI([2, 3]), g.constI([-1, -1])], {}, 'wFlip');
          this.accumulate(x.name, g.op('Conv', [dy, flipped], { kernel_shape: [k, k], pads: [p, p, p, p], strides: [1, 1], group }, 'dconv'));
        } else {
          this.accumulate(x.name, g.op('ConvTranspose', [dy, wEff], { ...convAttrs, output_padding: outputPadding }, 'dconv'));
        }
      }
      const geom: ConvGeometry = { k, s, p, ho, wo };
      const dW = dw ? depthwiseFilterGrad(g, x, dy, geom) : filterGrad(g, x, dy, geom, co);
      this.accumulate(wName, scale === undefined ? dW : g.op('Mul', [dW, dw ? g.op('Reshape', [scale, g.constI([co, 1])]) : scale], {}, 'dWscaled'));
    });
    return out;
  }

  /** Batch norm over channels: weight/bias trainable, running_mean/running_var buffers. */
  batchNorm(name: string, x: V4): V4 {
    const g = this.g;
    const c = x.c;
    const plan = planBatchNorm(name, c);
    const gamma = this.param(plan.weight);
    const beta = this.param(plan.bias);
    const rMean = this.param(plan.runningMean);
    const rVar = this.param(plan.runningVar);
    if (!this.training) {
      const y = g.op('BatchNormalization', [x.name, gamma, beta, rMean, rVar], { epsilon: { float: BN_EPS } }, 'bn');
      return { ...x, name: y };
    }
    this.use(x.name);
    const axes = [0, 2, 3];
    const shape4 = g.constI([1, c, 1, 1]);
    const flat = g.constI([c]);
    const count = g.op('Mul', [this.nFloat!, g.constF([x.h * x.w])], {}, 'count');
    // forward: batch moments by reductions, then inference-mode BatchNormalization with them
    // (one fused pass for (x - mean) * gamma / sqrt(var + eps) + beta). onnxruntime's own
    // training-mode BatchNormalization is not used: its optimiser substitutes the running-stat
    // inputs for its batch-moment outputs when those feed another BatchNormalization.
    const mean4 = g.op('ReduceMean', [x.name], { axes, keepdims: 1 }, 'bnMean');
    const xc = g.op('Sub', [x.name, mean4], {}, 'xc');
    const var4 = g.op('Div', [g.op('ReduceSumSquare', [xc], { axes, keepdims: 1 }), count], {}, 'bnVar');
    const mean = g.op('Reshape', [mean4, flat]);
    const variance = g.op('Reshape', [var4, flat]);
    const y = g.op('BatchNormalization', [x.name, gamma, beta, mean, variance], { epsilon: { float: BN_EPS } }, 'bn');
    // running statistics (PyTorch: unbiased variance, momentum 0.1)
    const unbias = g.op('Div', [count, g.op('Sub', [count, g.constF([1])])]);
    const keep = g.constF([1 - BN_MOMENTUM]);
    const take = g.constF([BN_MOMENTUM]);
    this.runningUpdates.push({ name: rMean, value: g.op('Add', [g.op('Mul', [rMean, keep]), g.op('Mul', [mean, take])], {}, 'rmean') });
    this.runningUpdates.push({ name: rVar, value: g.op('Add', [g.op('Mul', [rVar, keep]), g.op('Mul', [g.op('Mul', [variance, unbias]), take])], {}, 'rvar') });
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      // with xhat = (x - mean) * rstd: dbeta = sum(dy), dgamma = rstd * sum(dy * (x - mean)),
      // dx = gamma * rstd * u, u = dy - (xhat * dgamma + dbeta) / n; the per-channel affine map
      // xhat * a + b is inference-mode BatchNormalization with the batch moments (one pass)
      const sumAxes = g.constI(axes);
      const rstd = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, g.constF([BN_EPS])])])], {}, 'rstd');
      const dbeta = g.op('ReduceSum', [dy, sumAxes], { keepdims: 0 });
      const dgamma = g.op('Mul', [g.op('ReduceSum', [g.op('Mul', [dy, xc]), sumAxes], { keepdims: 0 }), rstd]);
      // (from xc, with mean 0, so that the conv output x itself need not stay alive for backward)
      const centre = g.op('BatchNormalization', [xc, g.op('Div', [dgamma, count]), g.op('Div', [dbeta, count]), g.constF(new Array<number>(c).fill(0), [c]), variance], { epsilon: { float: BN_EPS } }, 'bnGradCentre');
      const u = g.op('Sub', [dy, centre], {}, 'dbnU');
      const scale = g.op('Mul', [gamma, rstd], {}, 'bnScale');
      if (this.convOutputs.has(x.name) && this.uses.get(x.name) === 1) {
        this.gradScale.set(x.name, scale);
        this.accumulate(x.name, u);
      } else {
        this.accumulate(x.name, g.op('Mul', [u, g.op('Reshape', [scale, shape4])], {}, 'dbn'));
      }
      this.accumulate(gamma, dgamma);
      this.accumulate(beta, dbeta);
    });
    return { ...x, name: y };
  }

  /** Linear layer y = x W + b, W [in, out]. */
  dense(name: string, x: V2, outDim: number): V2 {
    const g = this.g;
    this.use(x.name);
    const plan = planDense(name, x.dim, outDim);
    const w = this.param(plan.weight);
    const b = this.param(plan.bias);
    this.flops += plan.flops;
    const y = g.op('Gemm', [x.name, w, b], {}, 'dense');
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      this.accumulate(x.name, g.op('Gemm', [dy, w], { transB: 1 }, 'ddense'));
      this.accumulate(w, g.op('Gemm', [x.name, dy], { transA: 1 }, 'dWdense'));
      this.accumulate(b, g.op('ReduceSum', [dy, g.constI([0])], { keepdims: 0 }));
    });
    return { name: y, dim: outDim };
  }

  // ---- parameter-free layers ----------------------------------------------------------------

  relu(x: V4): V4 {
    const g = this.g;
    this.use(x.name);
    const y = g.op('Relu', [x.name]);
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      // y >= 0, so Sign(y) is the 0/1 mask of the active units
      this.accumulate(x.name, g.op('Mul', [dy, g.op('Sign', [y])], {}, 'drelu'));
    });
    return { ...x, name: y };
  }

  /** min(max(x, 0), 6); gradient passes where 0 < x <= 6 (as tfjs). */
  relu6(x: V4): V4 {
    const g = this.g;
    this.use(x.name);
    const six = g.constF([6]);
    const y = g.op('Clip', [x.name, this.zero, six], {}, 'relu6');
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      const pass = g.op('And', [g.op('Greater', [x.name, this.zero]), g.op('LessOrEqual', [x.name, six])]);
      this.accumulate(x.name, g.op('Where', [pass, dy, this.zero], {}, 'drelu6'));
    });
    return { ...x, name: y };
  }

  add(a: V4, b: V4): V4 {
    if (a.c !== b.c || a.h !== b.h || a.w !== b.w) throw new TinyProtoError('E_SHAPE', `add: [${a.c},${a.h},${a.w}] vs [${b.c},${b.h},${b.w}]`);
    this.use(a.name, b.name);
    const y = this.g.op('Add', [a.name, b.name], {}, 'res');
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      this.accumulate(a.name, dy);
      this.accumulate(b.name, dy);
    });
    return { ...a, name: y };
  }

  /** Concatenate along channels. */
  concat(a: V4, b: V4): V4 {
    const g = this.g;
    this.use(a.name, b.name);
    const y = g.op('Concat', [a.name, b.name], { axis: 1 }, 'cat');
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      const [da, db] = g.opN('Split', [dy, g.constI([a.c, b.c])], 2, { axis: 1 }, 'dcat');
      this.accumulate(a.name, da!);
      this.accumulate(b.name, db!);
    });
    return { name: y, c: a.c + b.c, h: a.h, w: a.w };
  }

  /** Split channels into [first `at`, rest]. */
  split(x: V4, at: number): [V4, V4] {
    const g = this.g;
    this.use(x.name);
    const [a, b] = g.opN('Split', [x.name, g.constI([at, x.c - at])], 2, { axis: 1 }, 'split');
    const va: V4 = { ...x, name: a!, c: at };
    const vb: V4 = { ...x, name: b!, c: x.c - at };
    this.record(() => {
      const da = this.grads.get(va.name);
      const db = this.grads.get(vb.name);
      if (da === undefined && db === undefined) return;
      const zeros = (v: V4): string => g.op('ConstantOfShape', [g.op('Shape', [v.name])]);
      this.accumulate(x.name, g.op('Concat', [da ?? zeros(va), db ?? zeros(vb)], { axis: 1 }, 'dsplit'));
    });
    return [va, vb];
  }

  /** PyTorch channel shuffle: view(N, g, C/g, H, W).transpose(1, 2). */
  channelShuffle(x: V4, groups: number): V4 {
    const g = this.g;
    if (x.c % groups !== 0) throw new TinyProtoError('E_SHAPE', `channelShuffle: ${x.c} channels not divisible by ${groups}`);
    this.use(x.name);
    const per = x.c / groups;
    const flat = g.constI([0, x.c, x.h, x.w]);
    const shuffle = (v: string, a: number, b: number): string =>
      g.op('Reshape', [g.op('Transpose', [g.op('Reshape', [v, g.constI([0, a, b, x.h, x.w])])], { perm: [0, 2, 1, 3, 4] }), flat], {}, 'shuffle');
    const y = shuffle(x.name, groups, per);
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      this.accumulate(x.name, shuffle(dy, per, groups));
    });
    return { ...x, name: y };
  }

  /** Global average pool [N, c, h, w] -> [N, c]. */
  globalAvgPool(x: V4): V2 {
    const g = this.g;
    this.use(x.name);
    const y = g.op('Reshape', [g.op('GlobalAveragePool', [x.name]), g.constI([0, x.c])], {}, 'gap');
    this.record(() => {
      const dy = this.grads.get(y);
      if (dy === undefined) return;
      const spread = g.op('Mul', [g.op('Reshape', [dy, g.constI([0, x.c, 1, 1])]), g.constF([1 / (x.h * x.w)])]);
      this.accumulate(x.name, g.op('Expand', [spread, g.op('Shape', [x.name])], {}, 'dgap'));
    });
    return { name: y, dim: x.c };
  }
}
