/**
 * What a run took to get somewhere, pure: the first round whose accuracy reached a target, and
 * the wall-clock time, bytes and energy spent up to and including it; the distribution of round
 * times; and the agents that straggled (their round took over 1.5x that round's median).
 */
import type { RunData } from './model.ts';
import { quantile } from './bands.ts';

export interface ToTarget {
  readonly round: number;
  /** Cumulative round time up to and including that round. */
  readonly seconds: number;
  /** Cumulative bytes up + down (encoded messages, all agents). */
  readonly bytes: number;
  /** Cumulative energy of all agents (null without telemetry). */
  readonly energyJoules: number | null;
}

export function toTarget(run: RunData, target: number, metric: 'head' | 'prototype'): ToTarget | null {
  let seconds = 0;
  let bytes = 0;
  for (const r of run.rounds) {
    seconds += r.seconds;
    bytes += r.bytesUp + r.bytesDown;
    const acc = metric === 'head' ? r.accuracyHead : r.accuracyPrototype;
    if (acc !== null && acc >= target) {
      const tel = run.telemetry.filter((t) => t.round <= r.round);
      return { round: r.round, seconds, bytes, energyJoules: tel.length ? tel.reduce((a, t) => a + t.energy.joules, 0) : null };
    }
  }
  return null;
}

/** p50 / p95 of the rounds' times (null without rounds). */
export function roundTimes(run: RunData): { p50: number; p95: number } | null {
  const s = run.rounds.map((r) => r.seconds).sort((a, b) => a - b);
  return s.length === 0 ? null : { p50: quantile(s, 0.5), p95: quantile(s, 0.95) };
}

/** Agents whose round (telemetry phases.round) took over `factor` x that round's median, most often first. */
export function stragglers(run: RunData, factor = 1.5): { agent: string; rounds: number }[] {
  const count = new Map<string, number>();
  for (const round of new Set(run.telemetry.map((t) => t.round))) {
    const tel = run.telemetry.filter((t) => t.round === round);
    if (tel.length < 3) continue;
    const median = quantile(tel.map((t) => t.phases.round).sort((a, b) => a - b), 0.5);
    for (const t of tel) if (t.phases.round > factor * median) count.set(t.agent, (count.get(t.agent) ?? 0) + 1);
  }
  return [...count].map(([agent, rounds]) => ({ agent, rounds })).sort((a, b) => b.rounds - a.rounds || a.agent.localeCompare(b.agent));
}
