/**
 * The prototype contrast term as both engines compute it (TrainOptions.contrast; the weights come
 * from method/prototype-contrast.ts). Per batch of N features f_n with labels y_n:
 *
 *   contrast = -(1/N) sum_n log softmax(z(f_n))_{y_n},  z = 2 f (W*P)^T - (f*f) W^T - c,
 *
 * i.e. z_j = -sum_k W_jk (f_k - P_jk)^2, with c_j = sum_k W_jk P_jk^2, or a large constant for a
 * class that is not a candidate (its softmax share underflows to 0). A sample whose own class is
 * not a candidate adds nothing. The total loss is CE + lambda * proto + gamma * contrast.
 * `prototypeContrastLoss` is the float64 reference both engines are tested against.
 */
import { TinyProtoError } from '../common/errors.ts';

/** The contrast as the engines take it (models/engine.ts TrainOptions.contrast). */
export interface PrototypeContrast {
  /** gamma, the weight of the term next to CE. */
  readonly weight: number;
  /** K*d row-major: the prototypes the scores measure the distance to. */
  readonly prototypes: Float32Array;
  /** K*d row-major: W, the weight of each dimension in class j's score (0 off its support). */
  readonly dimWeights: Float32Array;
  /** K flags: 1 where class j is a candidate (has a global prototype). */
  readonly available: Uint8Array;
}

/** Score offset of a class that is not a candidate: its softmax share underflows to 0. */
export const UNAVAILABLE_SCORE = 1e4;

/** What the engines feed: W, W*P and c (K*d, K*d, K), the flags as floats (K) and gamma. */
export interface ContrastInputs {
  readonly gamma: number;
  readonly w: Float32Array;
  readonly wp: Float32Array;
  readonly c: Float32Array;
  readonly available: Float32Array;
}

/** The engines' inputs for `contrast` (all zero, gamma 0, when null: the term is off). */
export function contrastInputs(K: number, d: number, contrast: PrototypeContrast | null | undefined): ContrastInputs {
  const w = new Float32Array(K * d);
  const wp = new Float32Array(K * d);
  const c = new Float32Array(K).fill(UNAVAILABLE_SCORE);
  const available = new Float32Array(K);
  if (contrast === null || contrast === undefined) return { gamma: 0, w, wp, c, available };
  const { prototypes: P, dimWeights: W } = contrast;
  if (P.length !== K * d || W.length !== K * d || contrast.available.length !== K) {
    throw new TinyProtoError('E_SHAPE', `contrast: prototypes ${P.length}, dimWeights ${W.length}, available ${contrast.available.length}; expected ${K * d}, ${K * d}, ${K}`);
  }
  if (!(contrast.weight >= 0) || !Number.isFinite(contrast.weight)) throw new TinyProtoError('E_CONFIG', `contrast: bad weight ${contrast.weight}`);
  for (let j = 0; j < K; j++) {
    if (contrast.available[j] !== 1) continue;
    available[j] = 1;
    let cj = 0;
    for (let k = j * d; k < (j + 1) * d; k++) {
      const v = W[k]!;
      if (!(v >= 0) || !Number.isFinite(v) || !Number.isFinite(P[k]!)) throw new TinyProtoError('E_CONFIG', `contrast: bad weight or prototype value at ${k}`, { index: k });
      w[k] = v;
      wp[k] = v * P[k]!;
      cj += v * P[k]! * P[k]!;
    }
    c[j] = cj;
  }
  return { gamma: contrast.weight, w, wp, c, available };
}

/**
 * Reference: the mean contrast loss of n features (row-major n*d) with their labels, and its
 * gradient with respect to the features (n*d; already times gamma), in float64.
 */
export function prototypeContrastLoss(features: Float32Array, labels: Int32Array, d: number, inputs: ContrastInputs): { loss: number; grad: Float64Array } {
  const n = labels.length;
  const K = inputs.c.length;
  const grad = new Float64Array(n * d);
  let loss = 0;
  const z = new Float64Array(K);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    const f = i * d;
    let max = -Infinity;
    for (let j = 0; j < K; j++) {
      let a = 0;
      let b = 0;
      for (let k = 0; k < d; k++) {
        const x = features[f + k]!;
        a += x * x * inputs.w[j * d + k]!;
        b += x * inputs.wp[j * d + k]!;
      }
      z[j] = 2 * b - a - inputs.c[j]!;
      if (z[j]! > max) max = z[j]!;
    }
    if (inputs.available[y] !== 1) continue;
    let sum = 0;
    for (let j = 0; j < K; j++) sum += Math.exp(z[j]! - max);
    const logSum = max + Math.log(sum);
    loss -= z[y]! - logSum;
    for (let j = 0; j < K; j++) {
      // dL/dz_j = softmax_j - [j = y]; dz_j/df_k = 2 W_jk P_jk - 2 W_jk f_k
      const g = (Math.exp(z[j]! - logSum) - (j === y ? 1 : 0)) * inputs.gamma / n;
      if (g === 0) continue;
      for (let k = 0; k < d; k++) grad[f + k] = grad[f + k]! + g * 2 * (inputs.wp[j * d + k]! - inputs.w[j * d + k]! * features[f + k]!);
    }
  }
  return { loss: loss / n, grad };
}
