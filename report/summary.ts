/** Per-run figures for the summary table and report.json. */
import type { RunData } from './model.ts';
import { energySourceLabel } from './charts.ts';
import { roundTimes, stragglers, toTarget, type ToTarget } from './targets.ts';

export interface RunSummary {
  readonly name: string;
  readonly kind: RunData['kind'];
  readonly method: string;
  readonly rounds: number;
  readonly agents: number;
  readonly bestHead: { readonly accuracy: number; readonly round: number } | null;
  readonly bestPrototype: { readonly accuracy: number; readonly round: number } | null;
  readonly lastHead: number | null;
  readonly lastPrototype: number | null;
  readonly totalBytesUp: number;
  readonly totalBytesDown: number;
  readonly seconds: number;
  /** Sum over the telemetry records; null without telemetry. */
  readonly energyJoules: number | null;
  /** Distinct energy sources, e.g. "estimate: rpi4b". */
  readonly energySources: readonly string[];
  /** p50 / p95 of the round times. */
  readonly roundSeconds: { readonly p50: number; readonly p95: number } | null;
  /** Agents whose round took over 1.5x the round's median, with how many rounds. */
  readonly stragglers: readonly { readonly agent: string; readonly rounds: number }[];
  /** With a target accuracy: when, how long, how many bytes and joules it took (null: not reached). */
  readonly target: { readonly accuracy: number; readonly head: ToTarget | null; readonly prototype: ToTarget | null } | null;
}

function best(rounds: RunData['rounds'], pick: (r: RunData['rounds'][number]) => number | null): { accuracy: number; round: number } | null {
  let out: { accuracy: number; round: number } | null = null;
  for (const r of rounds) {
    const v = pick(r);
    if (v !== null && (out === null || v > out.accuracy)) out = { accuracy: v, round: r.round };
  }
  return out;
}

export function summariseRun(run: RunData, targetAccuracy: number | null = null): RunSummary {
  const last = run.rounds[run.rounds.length - 1];
  const agents = new Set([...run.perAgent.map((a) => a.agent), ...run.telemetry.map((t) => t.agent)]);
  const sources = [...new Set(run.telemetry.map((t) => energySourceLabel([t])))].sort();
  return {
    name: run.name,
    kind: run.kind,
    method: run.method,
    rounds: run.rounds.length,
    agents: agents.size,
    bestHead: best(run.rounds, (r) => r.accuracyHead),
    bestPrototype: best(run.rounds, (r) => r.accuracyPrototype),
    lastHead: last?.accuracyHead ?? null,
    lastPrototype: last?.accuracyPrototype ?? null,
    totalBytesUp: run.rounds.reduce((a, r) => a + r.bytesUp, 0),
    totalBytesDown: run.rounds.reduce((a, r) => a + r.bytesDown, 0),
    seconds: run.rounds.reduce((a, r) => a + r.seconds, 0),
    energyJoules: run.telemetry.length ? run.telemetry.reduce((a, t) => a + t.energy.joules, 0) : null,
    energySources: sources,
    roundSeconds: roundTimes(run),
    stragglers: stragglers(run),
    target: targetAccuracy === null ? null : { accuracy: targetAccuracy, head: toTarget(run, targetAccuracy, 'head'), prototype: toTarget(run, targetAccuracy, 'prototype') },
  };
}
