/**
 * Gradient functions for the kernels the model zoo uses.
 *
 * @tensorflow/tfjs-core's Node bundle (dist/tf-core.node.js) registers no gradient functions:
 * they are registered by the umbrella @tensorflow/tfjs package (which tfjs-node pulls in) or by
 * tfjs-core's unbundled ESM `dist/register_all_gradients.js`, which plain Node cannot load
 * (extensionless/directory imports). Without tfjs-node we therefore register our own, ported
 * from tfjs-core 4.22 src/gradients/*_grad.ts (Apache-2.0), for exactly the kernels on the
 * training path. `registerCoreGradients` only fills kernels that have no gradient yet, so when
 * @tensorflow/tfjs is loaded its upstream gradients are kept.
 */
import type * as TfCore from '@tensorflow/tfjs-core';
import type { Tf } from './layers.ts';

type Tensor = TfCore.Tensor;
type GradConfig = TfCore.GradConfig;
type Attrs = Record<string, unknown>;

function reduceTo(tf: Tf, g: Tensor, shape: number[], outShape: number[]): Tensor {
  const axes = tf.backend_util.getReductionAxes(shape, outShape);
  const r = axes.length > 0 ? tf.sum(g, axes) : g;
  return tf.reshape(r, shape);
}

function binary(tf: Tf, kernelName: string, da: (dy: Tensor, a: Tensor, b: Tensor) => Tensor, db: (dy: Tensor, a: Tensor, b: Tensor) => Tensor): GradConfig {
  return {
    kernelName,
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const [a, b] = saved as [Tensor, Tensor];
      const dyT = dy as Tensor;
      const out = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
      return {
        a: () => reduceTo(tf, da(dyT, a, b), a.shape, out),
        b: () => reduceTo(tf, db(dyT, a, b), b.shape, out),
      };
    },
  };
}

function reductionAxes(tf: Tf, axis: unknown, shape: number[]): number[] {
  return tf.util.parseAxisParam(axis as number | number[], shape);
}

export function coreGradConfigs(tf: Tf): GradConfig[] {
  const f32 = (t: Tensor): Tensor => tf.cast(t, 'float32');
  return [
    binary(tf, 'Add', (dy) => dy, (dy) => dy),
    binary(tf, 'Sub', (dy) => dy, (dy) => tf.neg(dy)),
    binary(tf, 'Multiply', (dy, _a, b) => tf.mul(dy, f32(b)), (dy, a) => tf.mul(dy, f32(a))),
    binary(
      tf,
      'RealDiv',
      (dy, _a, b) => tf.div(dy, f32(b)),
      (dy, a, b) => tf.neg(tf.div(tf.mul(dy, f32(a)), tf.square(f32(b)))),
    ),
    binary(
      tf,
      'SquaredDifference',
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(a, b))),
      (dy, a, b) => tf.mul(dy, tf.mul(2, tf.sub(b, a))),
    ),
    { kernelName: 'Neg', gradFunc: (dy) => ({ x: () => tf.neg(dy as Tensor) }) },
    { kernelName: 'Cast', gradFunc: (dy) => ({ x: () => (dy as Tensor).clone() }) },
    { kernelName: 'Identity', gradFunc: (dy) => ({ x: () => f32(dy as Tensor) }) },
    {
      kernelName: 'Square',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as Tensor, tf.mul(f32(saved[0]!), 2)) }),
    },
    {
      kernelName: 'Relu',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.mul(dy as Tensor, tf.step(f32(saved[0]!))) }),
    },
    {
      kernelName: 'Relu6',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => {
        const x = saved[0]!;
        return { x: () => tf.mul(dy as Tensor, f32(tf.mul(tf.lessEqual(x, 6), tf.step(x)))) };
      },
    },
    {
      kernelName: 'Sum',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = saved[0]!;
        const axes = reductionAxes(tf, (attrs as Attrs)['axis'], x.shape);
        const expanded = x.shape.slice();
        for (const a of axes) expanded[a] = 1;
        return { x: () => tf.mul(tf.reshape(dy as Tensor, expanded), tf.ones(x.shape, 'float32')) };
      },
    },
    {
      kernelName: 'Mean',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = saved[0]!;
        const axes = reductionAxes(tf, (attrs as Attrs)['axis'], x.shape);
        const expanded = x.shape.slice();
        let reduceSize = 1;
        for (const a of axes) {
          reduceSize *= x.shape[a]!;
          expanded[a] = 1;
        }
        return { x: () => tf.div(tf.mul(tf.reshape(dy as Tensor, expanded), tf.ones(x.shape, 'float32')), reduceSize) };
      },
    },
    {
      kernelName: 'BatchMatMul',
      inputsToSave: ['a', 'b'],
      gradFunc: (dy, saved, attrs) => {
        const [a, b] = saved as [Tensor, Tensor];
        const d = dy as Tensor;
        const { transposeA, transposeB } = attrs as { transposeA: boolean; transposeB: boolean };
        const fit = (g: Tensor, like: Tensor): Tensor => {
          // reduce broadcast batch dimensions (upstream semantics)
          if (g.rank === like.rank && g.shape.every((s, i) => s === like.shape[i])) return g;
          const lead = g.rank - like.rank;
          let r = g;
          if (lead > 0) r = tf.sum(r, Array.from({ length: lead }, (_, i) => i));
          return reduceTo(tf, r, like.shape, r.shape);
        };
        if (!transposeA && !transposeB) return { a: () => fit(tf.matMul(d, b, false, true), a), b: () => fit(tf.matMul(a, d, true, false), b) };
        if (!transposeA && transposeB) return { a: () => fit(tf.matMul(d, b, false, false), a), b: () => fit(tf.matMul(d, a, true, false), b) };
        if (transposeA && !transposeB) return { a: () => fit(tf.matMul(b, d, false, true), a), b: () => fit(tf.matMul(a, d, false, false), b) };
        return { a: () => fit(tf.matMul(b, d, true, true), a), b: () => fit(tf.matMul(d, a, true, true), b) };
      },
    },
    {
      kernelName: 'Reshape',
      inputsToSave: ['x'],
      gradFunc: (dy, saved) => ({ x: () => tf.reshape(dy as Tensor, saved[0]!.shape) }),
    },
    {
      kernelName: 'Transpose',
      gradFunc: (dy, _saved, attrs) => {
        const perm = (attrs as { perm: number[] }).perm;
        const inv = new Array<number>(perm.length);
        perm.forEach((p, i) => (inv[p] = i));
        return { x: () => tf.transpose(dy as Tensor, inv) };
      },
    },
    {
      kernelName: 'Slice',
      inputsToSave: ['x'],
      gradFunc: (dy, saved, attrs) => {
        const x = saved[0]!;
        const { begin, size } = attrs as { begin: number | number[]; size: number | number[] };
        const [b = [], s = []] = tf.slice_util.parseSliceParams(x, begin, size);
        const paddings = x.shape.map((dim, i) => [b[i] ?? 0, dim - (b[i] ?? 0) - (s[i] ?? dim)] as [number, number]);
        return { x: () => tf.pad(dy as Tensor, paddings) };
      },
    },
    {
      kernelName: 'Concat',
      saveAllInputs: true,
      gradFunc: (dy, saved, attrs) => {
        const axis = tf.util.parseAxisParam((attrs as { axis: number }).axis, saved[0]!.shape)[0]!;
        const parts = tf.split(dy as Tensor, saved.map((t) => t.shape[axis]!), axis);
        // upstream returns an array (gradients by input position); GradFunc's type says map
        return parts.map((t) => () => t) as unknown as ReturnType<TfCore.GradFunc>;
      },
    },
    {
      kernelName: 'Conv2D',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, saved, attrs) => {
        const [x, filter] = saved as [Tensor, Tensor];
        const a = attrs as Attrs;
        const common = { strides: a['strides'], pad: a['pad'], dataFormat: a['dataFormat'], dimRoundingMode: a['dimRoundingMode'] };
        return {
          x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy: dy as Tensor, filter }, { ...common, inputShape: x.shape } as never) as Tensor,
          filter: () => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy: dy as Tensor }, { ...common, filterShape: filter.shape } as never) as Tensor,
        };
      },
    },
    {
      kernelName: 'DepthwiseConv2dNative',
      inputsToSave: ['x', 'filter'],
      gradFunc: (dy, saved, attrs) => {
        const [x, filter] = saved as [Tensor, Tensor];
        const a = attrs as Attrs;
        const common = {
          strides: a['strides'],
          pad: a['pad'],
          dimRoundingMode: a['dimRoundingMode'],
          dilations: a['dilations'] ?? [1, 1],
        };
        return {
          x: () =>
            tf.engine().runKernel('DepthwiseConv2dNativeBackpropInput', { dy: dy as Tensor, filter }, { ...common, inputShape: x.shape } as never) as Tensor,
          filter: () =>
            tf.engine().runKernel('DepthwiseConv2dNativeBackpropFilter', { x, dy: dy as Tensor }, { ...common, filterShape: filter.shape } as never) as Tensor,
        };
      },
    },
    {
      kernelName: 'FusedBatchNorm',
      inputsToSave: ['x', 'mean', 'variance', 'scale'],
      gradFunc: (dy, saved, attrs) => {
        const eps = (attrs as { varianceEpsilon: number }).varianceEpsilon;
        const [x, mean, variance, scale] = saved as [Tensor, Tensor, Tensor, Tensor | undefined];
        const d = dy as Tensor;
        const scaleValue: Tensor = scale ?? tf.scalar(1);
        const axes = tf.backend_util.getReductionAxes(mean.shape, x.shape);
        const xMinusMean = tf.sub(x, mean);
        const dyScaled = tf.mul(d, scaleValue);
        const rstd = tf.rsqrt(tf.add(variance, eps));
        const minusHalfRCube = tf.mul(tf.mul(tf.mul(rstd, rstd), rstd), -0.5);
        const red = (t: Tensor): Tensor => tf.reshape(axes.length > 0 ? tf.sum(t, axes) : t, mean.shape);
        return {
          x: () => tf.reshape(tf.mul(tf.mul(d, rstd), scaleValue), x.shape),
          mean: () => red(tf.mul(tf.neg(rstd), dyScaled)),
          variance: () => red(tf.mul(tf.mul(minusHalfRCube, xMinusMean), dyScaled)),
          scale: () => red(tf.mul(d, tf.mul(xMinusMean, rstd))),
          offset: () => red(d),
        };
      },
    },
  ];
}

/** Register the gradients above for every kernel that has none yet. Idempotent. */
export function registerCoreGradients(tf: Tf): string[] {
  const added: string[] = [];
  for (const g of coreGradConfigs(tf)) {
    if (tf.getGradient(g.kernelName) === undefined) {
      tf.registerGradient(g);
      added.push(g.kernelName);
    }
  }
  return added;
}
