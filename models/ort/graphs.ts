/**
 * The three graphs of a model: the zoo (models/arch/zoo.ts) executed by the layer autodiff (net.ts):
 *
 * - train ('sgd'): one SGD step. Inputs: x [N,h,w,c], onehot [N,K], protoTarget [N,d],
 *   protoWeight [N,1] (1 where the sample's class has a global prototype; or [N,d], a weight per
 *   dimension: TrainOptions.classWeights), lambda [], lr [], the prototype contrast's constants
 *   (models/contrast.ts) contrastW [K,d], contrastWP [K,d], contrastC [K], contrastAvail [K], gamma [],
 *   every parameter and running statistic. Outputs: loss [3] = (total, CE, proto MSE), features
 *   [N,d] (fetched only for TrainOptions.collectFeatures), and
 *   `<name>:next` for every trainable parameter (w - lr * scale * grad) and running statistic,
 *   gradNorm [] (the global L2 norm of the trainable parameters' gradients, before clipping).
 *   Input clipNorm []: scale = min(1, clipNorm / gradNorm) (TrainOptions.clipNorm; the engine feeds
 *   +Infinity when clipping is off, so scale is exactly 1 and the step the plain one).
 * - train ('grads'): as 'sgd' without lr; outputs `<name>:grad` instead of updated weights
 *   (used by the gradient tests against the tfjs engine).
 * - infer: x -> features [N,d], logits [N,K] with running statistics; weights as inputs, or
 *   baked in as initializers for export.
 *
 * Loss (same as the tfjs engine): CE(softmax(logits), y) averaged over the batch
 *   + lambda * sum_n w_n * ||f_n - P_{y_n}||^2 / (N * d)  (w_n a row of d weights: sum_nk w_nk (f_nk - P_{y_n,k})^2 / (N * d))
 *   + gamma * contrast (models/contrast.ts; 0 when gamma = 0). The loss output's "proto" is the MSE
 *   term alone, so gamma * contrast = total - CE - lambda * proto.
 */
import type { ModelSpec } from '../engine.ts';
import type { ParamDef } from '../arch/builder.ts';
import { describeNet } from '../arch/zoo.ts';
import { OrtNetBuilder } from './net.ts';
import type { ParamSource } from './values.ts';
import type { ContrastInputs } from '../contrast.ts';

export interface BuiltGraph {
  readonly bytes: Uint8Array;
  /** Parameters and running statistics in creation order (the model's state). */
  readonly params: readonly ParamDef[];
  /** Forward FLOPs per image (2 x MACs of conv, depthwise and dense layers). */
  readonly flopsPerImage: number;
  readonly nodeCount: number;
}

export const nextName = (param: string): string => `${param}:next`;
export const gradName = (param: string): string => `${param}:grad`;

/** A training graph's prototype-contrast inputs (contrastTerm below) for `ci`: name, values, dims. */
export function contrastFeeds(ci: ContrastInputs, K: number, d: number): { name: string; values: Float32Array; dims: number[] }[] {
  return [
    { name: 'contrastW', values: ci.w, dims: [K, d] },
    { name: 'contrastWP', values: ci.wp, dims: [K, d] },
    { name: 'contrastC', values: ci.c, dims: [K] },
    { name: 'contrastAvail', values: ci.available, dims: [K] },
    { name: 'gamma', values: Float32Array.of(ci.gamma), dims: [] },
  ];
}

export function buildTrainGraph(spec: ModelSpec, variant: 'sgd' | 'grads'): BuiltGraph {
  const b = new OrtNetBuilder('train', null, `${spec.family}-train-${variant}`);
  const g = b.g;
  const { featureDim: d, numClasses: K } = spec;
  const { features, logits } = describeNet(b, spec);
  const onehot = g.input('onehot', ['N', K]);
  const target = g.input('protoTarget', ['N', d]);
  // [N, 1] (one weight per sample) or [N, d] (one per dimension): Mul broadcasts either
  const weight = g.input('protoWeight', ['N', 'W']);
  const lambda = g.input('lambda', []);
  const n = b.batchSize('x');

  const logp = g.op('LogSoftmax', [logits.name], { axis: 1 });
  const ce = g.op('Div', [g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [onehot, logp])], { keepdims: 0 })]), n], {}, 'ce');
  const diff = g.op('Sub', [features.name, target]);
  const nd = g.op('Mul', [n, g.constF([d])]);
  const proto = g.op('Div', [g.op('ReduceSum', [g.op('Mul', [weight, g.op('Mul', [diff, diff])])], { keepdims: 0 }), nd], {}, 'proto');
  const contrast = contrastTerm(g, features.name, onehot, n, K, d);
  const total = g.op('Add', [g.op('Add', [ce, g.op('Mul', [lambda, proto])]), g.op('Mul', [contrast.gamma, contrast.loss])], {}, 'loss');
  const unsq = (v: string): string => g.op('Reshape', [v, g.constI([1])]);
  g.output('loss', g.op('Concat', [unsq(total), unsq(ce), unsq(proto)], { axis: 0 }), [3]);
  // the step's features (training-mode batch norm), fetched only when asked (TrainOptions.collectFeatures)
  g.output('features', features.name, ['N', d]);

  // seeds: d(total)/d(logits) = (softmax - onehot) / N; d(total)/d(features) from the MSE term
  const dLogits = g.op('Div', [g.op('Sub', [g.op('Exp', [logp]), onehot]), n], {}, 'dlogits');
  const dFeatProto = g.op('Mul', [g.op('Mul', [diff, weight]), g.op('Div', [g.op('Mul', [lambda, g.constF([2])]), nd])], {}, 'dproto');
  const grads = b.backward(logits.name, dLogits, [[features.name, g.op('Add', [dFeatProto, contrast.dFeatures])]]);

  const trainable = b.params.filter((p) => p.trainable);
  if (variant === 'grads') {
    for (const p of trainable) g.output(gradName(p.name), grads.get(p.name)!, p.shape);
  } else {
    const lr = g.input('lr', []);
    const clip = g.input('clipNorm', []);
    const squares = trainable.map((p) => g.op('ReduceSumSquare', [grads.get(p.name)!], { keepdims: 0 }));
    const norm = g.op('Sqrt', [squares.length === 1 ? squares[0]! : g.op('Sum', squares)], {}, 'gradnorm');
    g.output('gradNorm', norm, []);
    // min(1, clip / norm): +Infinity / norm and clip / 0 are +Infinity, so min gives exactly 1
    const step = g.op('Mul', [g.op('Min', [g.constF([1]), g.op('Div', [clip, norm])]), lr], {}, 'clip');
    for (const p of trainable) g.output(nextName(p.name), g.op('Sub', [p.name, g.op('Mul', [grads.get(p.name)!, step])], {}, 'sgd'), p.shape);
  }
  for (const u of b.runningUpdates) g.output(nextName(u.name), u.value, [b.params.find((p) => p.name === u.name)!.shape[0]!]);
  return { bytes: g.toBytes(), params: b.params, flopsPerImage: b.flops, nodeCount: g.nodeCount };
}

/**
 * The prototype contrast (models/contrast.ts) on the features: its mean loss and its gradient with
 * respect to the features, times gamma. z = 2 f (W*P)^T - (f*f) W^T - c; dL/dz = gamma * (softmax(z)
 * * rowFlag - onehot * avail) / N; dL/df = 2 (dL/dz (W*P) - f * (dL/dz W)).
 */
function contrastTerm(g: OrtNetBuilder['g'], f: string, onehot: string, n: string, K: number, d: number): { loss: string; dFeatures: string; gamma: string } {
  const w = g.input('contrastW', [K, d]);
  const wp = g.input('contrastWP', [K, d]);
  const c = g.input('contrastC', [K]);
  const avail = g.input('contrastAvail', [K]);
  const gamma = g.input('gamma', []);
  const two = g.constF([2]);
  const wT = g.op('Transpose', [w], { perm: [1, 0] });
  const wpT = g.op('Transpose', [wp], { perm: [1, 0] });
  const z = g.op('Sub', [g.op('Sub', [g.op('Mul', [g.op('MatMul', [f, wpT]), two]), g.op('MatMul', [g.op('Mul', [f, f]), wT])]), c], {}, 'cz');
  const logq = g.op('LogSoftmax', [z], { axis: 1 });
  // a sample of a class that is not a candidate has a zero row here: it adds nothing
  const target = g.op('Mul', [onehot, avail]);
  const rowFlag = g.op('ReduceSum', [target, g.constI([1])], { keepdims: 1 });
  const loss = g.op('Div', [g.op('Neg', [g.op('ReduceSum', [g.op('Mul', [target, logq])], { keepdims: 0 })]), n], {}, 'contrast');
  const dz = g.op('Mul', [g.op('Div', [g.op('Sub', [g.op('Mul', [g.op('Exp', [logq]), rowFlag]), target]), n]), gamma], {}, 'dcontrast');
  const dFeatures = g.op('Mul', [g.op('Sub', [g.op('MatMul', [dz, wp]), g.op('Mul', [f, g.op('MatMul', [dz, w])])]), two]);
  return { loss, dFeatures, gamma };
}

/** Inference graph; `source` bakes weights in (export), null keeps them as inputs (one shared session). */
export function buildInferGraph(spec: ModelSpec, source: ParamSource | null): BuiltGraph {
  const b = new OrtNetBuilder('infer', source, `${spec.family}-infer`);
  const { features, logits } = describeNet(b, spec);
  b.g.output('features', features.name, ['N', spec.featureDim]);
  b.g.output('logits', logits.name, ['N', spec.numClasses]);
  const doc = `tinyproto ${spec.family}: input x [N,${spec.inputShape.join(',')}] NHWC float32; outputs features [N,${spec.featureDim}] and logits [N,${spec.numClasses}]`;
  return { bytes: b.g.toBytes(doc), params: b.params, flopsPerImage: b.flops, nodeCount: b.g.nodeCount };
}
