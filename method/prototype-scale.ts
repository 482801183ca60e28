/**
 * An improvement option, not the paper's method (README "Why TinyProto trailed"): TinyProto's
 * global prototype P_j = mu * sum_i n_ij p_ij is the count-weighted class mean times mu * n_j,
 * a factor that differs per class (0.4-0.9 in bench:norms) and that no one can correct without
 * the class counts the method keeps from the server. With `prototypeScale: 'local'` a client
 * takes from P_j its direction only: it rescales P_j, on P_j's support (the class's mask), to the
 * norm of its own class mean on that support; classes it does not hold get the median of the
 * factors of the classes it holds. Pure, on typed arrays; needs nothing but the client's own data.
 */
import { median } from '../common/stats.ts';

/** How a client uses the global prototypes' magnitude. */
export type PrototypeScale = 'server' | 'local';
export const PROTOTYPE_SCALES: readonly PrototypeScale[] = Object.freeze(['server', 'local']);

/**
 * `global` and `localMeans` are K*d row-major; returns a new K*d array (the input is untouched).
 * A class without a global prototype, or a zero one, stays as it is.
 */
export function matchPrototypeScale(global: Float32Array, hasGlobal: Uint8Array, localMeans: Float32Array, localCounts: Int32Array, d: number): Float32Array {
  const K = hasGlobal.length;
  const out = Float32Array.from(global);
  const factor = new Float64Array(K).fill(Number.NaN);
  for (let j = 0; j < K; j++) {
    if (hasGlobal[j] !== 1) continue;
    let g = 0;
    let l = 0;
    for (let k = j * d; k < (j + 1) * d; k++) {
      const v = global[k]!;
      if (v === 0) continue;
      g += v * v;
      l += localMeans[k]! * localMeans[k]!;
    }
    if (g > 0 && (localCounts[j] ?? 0) > 0 && l > 0) factor[j] = Math.sqrt(l / g);
  }
  const held = [...factor].filter((f) => Number.isFinite(f)).sort((a, b) => a - b);
  const middle = median(held, 1);
  for (let j = 0; j < K; j++) {
    if (hasGlobal[j] !== 1) continue;
    const f = Number.isFinite(factor[j]!) ? factor[j]! : middle;
    for (let k = j * d; k < (j + 1) * d; k++) out[k] = global[k]! * f;
  }
  return out;
}
