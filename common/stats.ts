/** Small pure statistics shared by the report and the simulation. */

/** The median of sorted values (the mean of the middle two for an even count); `empty` for none. */
export function median(sorted: readonly number[], empty: number): number {
  const n = sorted.length;
  if (n === 0) return empty;
  return n % 2 === 1 ? sorted[(n - 1) / 2]! : (sorted[n / 2 - 1]! + sorted[n / 2]!) / 2;
}

/** The q-quantile (0..1) of sorted values, linearly interpolated. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}
