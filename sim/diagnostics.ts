/**
 * What the global prototypes look like next to the features they pull on, per class and round,
 * pure (the measurements behind README "Why TinyProto trailed"): the count-weighted mean norm of
 * the clients' class means ||p_ij||, the norm of the global prototype the clients received
 * ||P_j||, their ratio, the share of the feature on the class's mask, and for TinyProto the factor mu * n_j by which P_j = mu * sum_i n_ij p_ij
 * differs from the count-weighted mean (1 would be the mean itself). Counts come from the
 * simulation's own bookkeeping: no agent ever sends them.
 */
export interface ClassScale {
  readonly classId: number;
  /** n_j: training samples of class j over the round's clients. */
  readonly samples: number;
  /** Count-weighted mean over clients of ||p_ij|| (full d dimensions). */
  readonly localNorm: number;
  /** Count-weighted mean of ||p_ij on m_j|| / ||p_ij||: how much of the feature lies on the class's mask (1 without masks). */
  readonly onMask: number | null;
  /** ||P_j|| of the global prototype the clients received (null: none). */
  readonly globalNorm: number | null;
  /** globalNorm / localNorm (null: no global prototype or no local norm). */
  readonly ratio: number | null;
  /** TinyProto: mu * n_j; null for the other methods. */
  readonly muScale: number | null;
}

export interface ClientDiagnostics {
  readonly counts: Int32Array;
  readonly meanNorms: Float32Array;
  readonly maskedNorms: Float32Array;
}

function norm(v: Float32Array): number {
  let q = 0;
  for (const x of v) q += x * x;
  return Math.sqrt(q);
}

export function classScales(clients: readonly ClientDiagnostics[], received: ReadonlyMap<number, Float32Array> | null, mu: number | null, numClasses: number): ClassScale[] {
  const out: ClassScale[] = [];
  for (let j = 0; j < numClasses; j++) {
    let n = 0;
    let weighted = 0;
    let share = 0;
    let shareN = 0;
    for (const c of clients) {
      const nij = c.counts[j] ?? 0;
      const full = c.meanNorms[j] ?? 0;
      n += nij;
      weighted += nij * full;
      if (nij > 0 && full > 0) {
        share += (nij * (c.maskedNorms[j] ?? 0)) / full;
        shareN += nij;
      }
    }
    if (n === 0) continue;
    const localNorm = weighted / n;
    const g = received?.get(j);
    const globalNorm = g === undefined ? null : norm(g);
    out.push({ classId: j, samples: n, localNorm, onMask: shareN > 0 ? share / shareN : null, globalNorm, ratio: globalNorm === null || localNorm === 0 ? null : globalNorm / localNorm, muScale: mu === null ? null : mu * n });
  }
  return out;
}

/** min / mean / max of the non-null values (null when there are none). */
export function spread(xs: readonly (number | null)[]): { min: number; mean: number; max: number } | null {
  const v = xs.filter((x): x is number => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  return { min: Math.min(...v), mean: v.reduce((a, x) => a + x, 0) / v.length, max: Math.max(...v) };
}
