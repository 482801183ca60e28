/**
 * `npm run bench:accuracy`: statistics over seeds, pure. Mean, sample standard deviation and
 * min-max of a metric; and the verdict between two methods: a difference of means smaller than
 * the spread (the larger of the two standard deviations over seeds) is a tie; and the paired
 * per-seed difference (the seeds share their data split, so it removes the split's variance).
 */

export interface Spread {
  readonly n: number;
  readonly mean: number;
  /** Sample standard deviation (n - 1); 0 for a single value. */
  readonly std: number;
  readonly min: number;
  readonly max: number;
}

/** Mean, std and range of the finite values; null when there are none. */
export function spreadOf(values: readonly (number | null | undefined)[]): Spread | null {
  const v = values.filter((x): x is number => typeof x === 'number' && Number.isFinite(x));
  if (v.length === 0) return null;
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const ss = v.reduce((a, b) => a + (b - mean) ** 2, 0);
  return { n: v.length, mean, std: v.length > 1 ? Math.sqrt(ss / (v.length - 1)) : 0, min: Math.min(...v), max: Math.max(...v) };
}

export type Verdict = 'lead' | 'tie' | 'trail';

/**
 * Does `a` lead, tie or trail `b`? A tie when |mean(a) - mean(b)| is not larger than the larger
 * of the two standard deviations (a single seed has none: then only an exact tie ties).
 */
export function verdict(a: Spread, b: Spread): Verdict {
  const diff = a.mean - b.mean;
  const spread = Math.max(a.std, b.std);
  if (Math.abs(diff) <= spread) return 'tie';
  return diff > 0 ? 'lead' : 'trail';
}

/** The per-seed differences a - b over the seeds both have (same seed = same data split). */
export interface Paired {
  /** Spread of the differences a - b; null when no seed is common. */
  readonly diff: Spread | null;
  /** Seeds on which a >= b. */
  readonly atLeast: number;
}

export function pairedDiff(a: ReadonlyMap<number, number | null>, b: ReadonlyMap<number, number | null>): Paired {
  const d: number[] = [];
  for (const [seed, x] of a) {
    const y = b.get(seed);
    if (typeof x === 'number' && typeof y === 'number') d.push(x - y);
  }
  return { diff: spreadOf(d), atLeast: d.filter((x) => x >= 0).length };
}

/** "-0.92 ± 0.40 (2/3 seeds >=)" in percentage points. */
export function formatPaired(p: Paired): string {
  if (p.diff === null) return 'no common seed';
  const sign = (x: number): string => `${x >= 0 ? '+' : ''}${(x * 100).toFixed(2)}`;
  return `${sign(p.diff.mean)}${p.diff.n > 1 ? ` ± ${(p.diff.std * 100).toFixed(2)}` : ''} (${p.atLeast}/${p.diff.n} seeds >=)`;
}

/** "92.40 ± 0.31 (91.98-92.71)" in percentage points. */
export function formatSpread(s: Spread | null): string {
  if (s === null) return 'n/a';
  const p = (x: number): string => (x * 100).toFixed(2);
  return s.n > 1 ? `${p(s.mean)} ± ${p(s.std)} (${p(s.min)}-${p(s.max)})` : p(s.mean);
}

/** One run's curve: accuracy at the evaluated rounds, in round order. */
export interface Curve {
  readonly points: readonly { readonly round: number; readonly value: number | null }[];
}

/**
 * The mean over runs at every round that any run evaluated. A run that stopped earlier (plateau)
 * contributes its last value from then on (it has converged); a run's rounds before its first
 * value do not count. Rounds where no run has a value are left out.
 */
export function meanCurve(curves: readonly Curve[]): { round: number; value: number; runs: number }[] {
  const rounds = [...new Set(curves.flatMap((c) => c.points.filter((p) => p.value !== null).map((p) => p.round)))].sort((a, b) => a - b);
  const out: { round: number; value: number; runs: number }[] = [];
  for (const r of rounds) {
    let sum = 0;
    let n = 0;
    for (const c of curves) {
      let v: number | null = null;
      for (const p of c.points) if (p.round <= r && p.value !== null) v = p.value;
      if (v !== null) {
        sum += v;
        n++;
      }
    }
    if (n > 0) out.push({ round: r, value: sum / n, runs: n });
  }
  return out;
}
