/**
 * Export a trained backbone (from either engine: the states are interchangeable) to a plain
 * inference ONNX model, and evaluate such a file through onnxruntime.
 *
 * The exported graph has the weights as initializers and batch norm in inference mode, so any
 * ONNX runtime can run it (onnxruntime folds batch norm into the convolutions when it loads it):
 *   input  x        float32 [N, h, w, c] (NHWC, normalised as tinyproto's data loaders do)
 *   output features float32 [N, d]   (the prototype space)
 *   output logits   float32 [N, K]   (the head)
 */
import type { ModelSpec, ModelState } from '../engine.ts';
import { TinyProtoError } from '../../common/errors.ts';
import { checkState } from '../train-args.ts';
import { buildInferGraph } from './graphs.ts';
import { createSession, loadOrt } from './runtime.ts';

export function exportInferenceOnnx(spec: ModelSpec, state: ModelState): Uint8Array {
  // the parameter list comes from the graph itself; check the state against it first
  const probe = buildInferGraph(spec, null);
  checkState(probe.params, state);
  return buildInferGraph(spec, (def) => state[def.name]!.data).bytes;
}

export interface OnnxEvaluation {
  readonly accuracy: number;
  readonly count: number;
  readonly seconds: number;
  readonly imagesPerSecond: number;
}

/** Head accuracy of an exported model on (x, y): argmax of `logits`, batches of `batchSize`. */
export async function evaluateOnnx(model: Uint8Array, inputShape: readonly [number, number, number], x: Float32Array, y: Int32Array, batchSize = 256): Promise<OnnxEvaluation> {
  const [h, w, c] = inputShape;
  const per = h * w * c;
  if (x.length !== y.length * per) throw new TinyProtoError('E_SHAPE', `evaluateOnnx: x has ${x.length} values, expected ${y.length} x ${per}`);
  const ort = await loadOrt();
  const session = await createSession(ort, model, { threads: 0, provider: 'cpu' });
  try {
    if (!session.inputNames.includes('x') || !session.outputNames.includes('logits')) {
      throw new TinyProtoError('E_MODEL', `evaluateOnnx: not a tinyproto model (inputs ${session.inputNames.join(', ')}; outputs ${session.outputNames.join(', ')})`);
    }
    const t0 = performance.now();
    let correct = 0;
    for (let start = 0; start < y.length; start += batchSize) {
      const B = Math.min(batchSize, y.length - start);
      const out = await session.run({ x: new ort.Tensor('float32', x.subarray(start * per, (start + B) * per), [B, h, w, c]) });
      const logits = out['logits']!.data as Float32Array;
      const K = logits.length / B;
      for (let i = 0; i < B; i++) {
        let best = 0;
        for (let j = 1; j < K; j++) if (logits[i * K + j]! > logits[i * K + best]!) best = j;
        if (best === y[start + i]) correct++;
      }
    }
    const seconds = (performance.now() - t0) / 1000;
    return { accuracy: y.length === 0 ? 0 : correct / y.length, count: y.length, seconds, imagesPerSecond: seconds > 0 ? y.length / seconds : 0 };
  } finally {
    await session.release();
  }
}
