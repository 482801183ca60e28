/** Elapsed time and an estimate of the time left, for long runs (one line per round). */

/** 65 -> "1m05s", 3725 -> "1h02m", 7 -> "7s". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * "elapsed 1m05s, ETA 4m20s": `done` of `total` units finished since `startMs` (this
 * invocation's units only: a resumed run counts from where it continued).
 */
export function etaText(startMs: number, nowMs: number, done: number, total: number): string {
  const elapsed = (nowMs - startMs) / 1000;
  if (done <= 0 || done >= total) return `elapsed ${duration(elapsed)}`;
  return `elapsed ${duration(elapsed)}, ETA ${duration((elapsed / done) * (total - done))}`;
}
