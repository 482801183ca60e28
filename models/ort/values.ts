/**
 * The values the ONNX Runtime builder passes around (net.ts, conv-grads.ts, graphs.ts): graph
 * value names with their per-image shapes, and where parameter values come from.
 */
import type { FeatureMap, FeatureVec, ParamDef } from '../arch/builder.ts';

export type Mode = 'train' | 'infer';

/** A 4-D activation [N, c, h, w] (N dynamic) named `name` in the graph. */
export interface V4 extends FeatureMap {
  readonly name: string;
}

/** A 2-D activation [N, dim]. */
export interface V2 extends FeatureVec {
  readonly name: string;
}

/** Where a parameter's values come from when the graph is built. */
export type ParamSource = (def: ParamDef) => Float32Array;
