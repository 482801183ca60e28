/**
 * The prototype contrast's weights (ExperimentSetup `prototypeContrast`, an improvement option):
 * pure, on typed arrays. The prototype MSE pulls a class-y feature towards P_y on y's mask only,
 * so nothing keeps a class-i feature away from P_j on j's mask, and that is where the masked
 * evaluation compares it. The contrast (models/contrast.ts, computed by the engines) adds gamma
 * times the cross-entropy of the nearest-prototype classifier itself, with scores
 *
 *   z_j(f) = -sum_{k in M_j} (f_k - P_jk)^2 / T,   i.e. W_jk = 1 / T on class j's support M_j,
 *
 * over the classes that have a global prototype: the masked evaluation rule's distances D_j (all d
 * without masks: FedProto) at a temperature T set by the data, the client's own mean squared
 * distance of its training features to their class's prototype on that class's support, so that a
 * typical own sample scores -1 whatever the features' scale.
 *
 * Its weight puts it in the prototype MSE's units: the MSE term is lambda / s * D_y (s the support
 * size, d without masks), and T * CE(z) = D_y - softmin_T(D) = D_y + T log sum_j exp(-D_j / T), so the
 * engines' weight gamma * lambda * T / s gives gamma * lambda / s * (D_y - softmin_T(D)): with
 * gamma = 1 the pull towards P_y is matched by a push away from the nearest prototypes. (At weight
 * gamma alone its gradient grows as 1 / sqrt(T) and diverged in a 3-round test; so did a per-class
 * spread in T, the 'spread' rule's, on classes with a handful of samples.)
 */
import { TinyProtoError } from '../common/errors.ts';
import { squaredDistanceOn } from './prototypes.ts';

/**
 * T: the mean over the n training features (row-major n*d) whose class has a global prototype of
 * the squared distance to that prototype on the class's support (`support[y]`; all d when null).
 * Null when no such feature exists or every distance is zero.
 */
export function contrastTemperature(features: Float32Array, labels: Int32Array, d: number, prototypes: Float32Array, hasGlobal: Uint8Array, support: readonly Int32Array[] | null): number | null {
  const n = labels.length;
  const K = hasGlobal.length;
  if (features.length !== n * d || prototypes.length !== K * d) throw new TinyProtoError('E_SHAPE', `features ${features.length} and prototypes ${prototypes.length}, expected ${n} x ${d} and ${K} x ${d}`);
  if (support !== null && support.length !== K) throw new TinyProtoError('E_SHAPE', `support has ${support.length} classes, expected K = ${K}`, { got: support.length, K });
  let sum = 0;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (!(y >= 0 && y < K)) throw new TinyProtoError('E_SHAPE', `label ${y} at sample ${i} is outside [0, ${K})`, { label: y, index: i, K });
    if (hasGlobal[y] !== 1) continue;
    sum += squaredDistanceOn(features, i * d, prototypes, y * d, d, support?.[y] ?? null);
    count++;
  }
  const t = count > 0 ? sum / count : 0;
  return t > 0 && Number.isFinite(t) ? t : null;
}

/** W for the contrast: 1 / T on class j's support (its mask; all d when null) for each class with hasGlobal[j] = 1, 0 elsewhere. */
export function contrastDimWeights(hasGlobal: Uint8Array, d: number, support: readonly Int32Array[] | null, temperature: number): Float32Array {
  const K = hasGlobal.length;
  if (!(temperature > 0) || !Number.isFinite(temperature)) throw new TinyProtoError('E_CONFIG', `contrast temperature is ${temperature}: it must be positive and finite`, { temperature });
  if (support !== null && support.length !== K) throw new TinyProtoError('E_SHAPE', `support has ${support.length} classes, expected K = ${K}`, { got: support.length, K });
  const w = new Float32Array(K * d);
  const v = 1 / temperature;
  for (let j = 0; j < K; j++) {
    if (hasGlobal[j] !== 1) continue;
    const dims = support?.[j];
    if (dims === undefined) w.fill(v, j * d, (j + 1) * d);
    else for (const k of dims) w[j * d + k] = v;
  }
  return w;
}

/**
 * The engines' weight and W of the contrast for `gamma` next to a prototype term of weight
 * `lambda` (see the file comment); null when there is nothing to contrast (no temperature).
 */
export function contrastSetup(
  gamma: number,
  lambda: number,
  features: Float32Array,
  labels: Int32Array,
  d: number,
  prototypes: Float32Array,
  hasGlobal: Uint8Array,
  support: readonly Int32Array[] | null,
): { weight: number; dimWeights: Float32Array; temperature: number } | null {
  const t = contrastTemperature(features, labels, d, prototypes, hasGlobal, support);
  if (t === null) return null;
  const s = support?.[0]?.length ?? d;
  return { weight: (gamma * lambda * t) / s, dimWeights: contrastDimWeights(hasGlobal, d, support, t), temperature: t };
}
