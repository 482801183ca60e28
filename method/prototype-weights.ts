/**
 * The prototype term's per-dimension weights under the improvement options (ExperimentSetup
 * prototypeLoss, offMaskWeight, lambdaRule, classBalance): pure, on typed arrays. The engines compute
 * lambda * mean over d of w_jk * (f_k - P_yk)^2 for a sample of class y = j, so
 * - the paper's loss is w = 1 on every dimension (the engines' 0/1 flags: null here);
 * - 'masked' weighs the s dimensions of class j's mask by d / s, the MSE over the mask;
 * - `offMaskWeight` b > 0 adds b * d / s on every other dimension, where the sparse prototype
 *   is zero: a pull of b per dimension, relative to a mask dimension, towards zero off the mask,
 *   which keeps the growth of class j's features on its mask (where the masked evaluation looks);
 * - 'relative' divides class j's weight by the mean square of the client's own class mean on the
 *   same support (the mask, or all d), 0 for a class it does not hold or whose mean is 0;
 * - `classBalance` beta > 0 multiplies class j's weight by n_j^-beta, normalised so that the
 *   term's total over the client's samples (of the classes with a global prototype) is unchanged:
 *   beta = 1 gives every held class the same share of the term however many samples it has, so
 *   the pull towards the global prototypes moves from a client's dominant classes (which its own
 *   data already fits) to its rare ones (where the federation knows more).
 * A class without a global prototype (hasGlobal 0) weighs 0 everywhere.
 */
export interface PrototypeWeightOptions {
  readonly numClasses: number;
  readonly featureDim: number;
  /** Class j's mask dimensions (TinyProto's masks); null = no masks (the 'full' support). */
  readonly maskIndices: readonly Int32Array[] | null;
  readonly masked: boolean;
  /** Off-mask weight relative to a mask dimension (masked loss only); 0 = no pull off the mask. */
  readonly offMaskWeight: number;
  /** The 'relative' rule's class means and counts (K*d, K); null = the fixed rule. */
  readonly relative: { readonly means: Float32Array; readonly counts: Int32Array } | null;
  /** The class balance: beta in [0, 1] and the client's class counts (K); null or beta 0 = none. */
  readonly classBalance: { readonly beta: number; readonly counts: Int32Array } | null;
}

/**
 * Class j's balance factor n_j^-beta * (sum n) / (sum n^(1-beta)) over the held classes with a
 * global prototype (0 for the others), so that sum_j n_j * factor_j = sum_j n_j.
 */
export function classBalanceFactors(hasGlobal: Uint8Array, counts: Int32Array, beta: number): Float32Array {
  const out = new Float32Array(counts.length);
  let total = 0;
  let weighted = 0;
  for (let j = 0; j < counts.length; j++) {
    const n = counts[j]!;
    if (hasGlobal[j] !== 1 || n <= 0) continue;
    total += n;
    weighted += n ** (1 - beta);
  }
  if (weighted === 0) return out;
  for (let j = 0; j < counts.length; j++) {
    const n = counts[j]!;
    if (hasGlobal[j] === 1 && n > 0) out[j] = (n ** -beta * total) / weighted;
  }
  return out;
}

/** K*d weights for a masked loss, K weights for the relative rule or the class balance alone, null for the paper's loss. */
export function prototypeTermWeights(hasGlobal: Uint8Array, o: PrototypeWeightOptions): Float32Array | null {
  const { numClasses: K, featureDim: d } = o;
  const masked = o.masked && o.maskIndices !== null;
  const balance = o.classBalance !== null && o.classBalance.beta > 0 ? classBalanceFactors(hasGlobal, o.classBalance.counts, o.classBalance.beta) : null;
  if (!masked && o.relative === null && balance === null) return null;
  const perClass = new Float32Array(K);
  for (let j = 0; j < K; j++) {
    if (hasGlobal[j] !== 1) continue;
    let w = 1;
    if (o.relative !== null) {
      const support = masked ? o.maskIndices![j]! : null;
      let q = 0;
      if (support === null) for (let k = j * d; k < (j + 1) * d; k++) q += o.relative.means[k]! ** 2;
      else for (const k of support) q += o.relative.means[j * d + k]! ** 2;
      const ms = q / (support === null ? d : support.length);
      w = o.relative.counts[j]! > 0 && ms > 0 ? 1 / ms : 0;
    }
    perClass[j] = balance === null ? w : w * balance[j]!;
  }
  if (!masked) return perClass;
  const out = new Float32Array(K * d);
  for (let j = 0; j < K; j++) {
    const mask = o.maskIndices![j]!;
    const w = (perClass[j]! * d) / mask.length;
    if (o.offMaskWeight > 0) out.fill(w * o.offMaskWeight, j * d, (j + 1) * d);
    for (const k of mask) out[j * d + k] = w;
  }
  return out;
}
