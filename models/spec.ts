/** Validation of a ModelSpec, shared by both engines. */
import type { ModelSpec } from './engine.ts';
import { TinyProtoError } from '../common/errors.ts';

export function validateSpec(spec: ModelSpec): void {
  const [h, w, c] = spec.inputShape;
  for (const [k, v] of [
    ['height', h],
    ['width', w],
    ['channels', c],
    ['featureDim', spec.featureDim],
    ['numClasses', spec.numClasses],
  ] as const) {
    if (!Number.isInteger(v) || v < 1) throw new TinyProtoError('E_CONFIG', `model spec: ${k} must be a positive integer, got ${v}`);
  }
  if (spec.numClasses < 2) throw new TinyProtoError('E_CONFIG', `model spec: numClasses must be >= 2, got ${spec.numClasses}`);
  if (h < 8 || w < 8) throw new TinyProtoError('E_CONFIG', `model spec: input ${h}x${w} is smaller than the 8x8 minimum`);
  if (!Number.isInteger(spec.seed)) throw new TinyProtoError('E_CONFIG', `model spec: seed must be an integer, got ${spec.seed}`);
}
