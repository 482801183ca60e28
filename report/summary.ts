/** Per-run figures for the summary table and report.json. */
import type { RunData, RunParticipation } from './model.ts';
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
  /** A fleet run's churn and participation (participation.json); null when the run has none. */
  readonly participation: ParticipationSummary | null;
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
    participation: run.participation ? participationSummary(run.participation) : null,
    target: targetAccuracy === null ? null : { accuracy: targetAccuracy, head: toTarget(run, targetAccuracy, 'head'), prototype: toTarget(run, targetAccuracy, 'prototype') },
  };
}

export interface ParticipationSummary {
  /** Uploads counted, and agents selected, over all rounds. */
  readonly uploads: number;
  readonly selected: number;
  /** Uploads refused as stale (E_ROUND) and resends answered as duplicates. */
  readonly late: number;
  readonly duplicates: number;
  /** "agent-1 rounds 2-3 (rejoined round 4)", one per agent with offline rounds. */
  readonly offline: readonly string[];
  /** "agent-2 round 2 (counted)", one per crash mid-upload. */
  readonly crashes: readonly string[];
}

/** "2-3, 6" from sorted round numbers. */
function ranges(rounds: readonly number[]): string {
  const out: string[] = [];
  for (let i = 0; i < rounds.length; i++) {
    let j = i;
    while (j + 1 < rounds.length && rounds[j + 1] === rounds[j]! + 1) j++;
    out.push(i === j ? `${rounds[i]}` : `${rounds[i]}-${rounds[j]}`);
    i = j;
  }
  return out.join(', ');
}

export function participationSummary(p: RunParticipation): ParticipationSummary {
  const offlineAgents = [...new Set(p.rounds.flatMap((r) => r.offline))].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
  return {
    uploads: p.rounds.reduce((a, r) => a + r.uploaded.length, 0),
    selected: p.rounds.reduce((a, r) => a + r.selected.length, 0),
    late: p.rounds.reduce((a, r) => a + r.late.length, 0),
    duplicates: p.rounds.reduce((a, r) => a + r.duplicates.length, 0),
    offline: offlineAgents.map((agent) => {
      const rounds = p.rounds.filter((r) => r.offline.includes(agent)).map((r) => r.round);
      const rejoined = p.churn.filter((e) => e.agent === agent && e.action === 'rejoin').map((e) => e.round);
      return `${agent} round${rounds.length === 1 ? '' : 's'} ${ranges(rounds)}${rejoined.length ? ` (rejoined round ${rejoined.join(', ')})` : ''}`;
    }),
    crashes: p.crashes.map((c) => `${c.agent} round ${c.round} (${c.outcome}${c.restarted ? '' : ', not restarted'})`),
  };
}

/** One line for the report's summary: "uploads 12/15 selected; offline: ...; crashed mid-upload: ...; late (stale) 1". */
export function participationText(s: ParticipationSummary): string {
  return [
    `uploads ${s.uploads}/${s.selected} selected`,
    ...(s.offline.length ? [`offline: ${s.offline.slice(0, 8).join(', ')}${s.offline.length > 8 ? `, +${s.offline.length - 8} more` : ''}`] : []),
    ...(s.crashes.length ? [`crashed mid-upload: ${s.crashes.slice(0, 8).join(', ')}${s.crashes.length > 8 ? `, +${s.crashes.length - 8} more` : ''}`] : []),
    `late (stale) uploads ${s.late}`,
    ...(s.duplicates ? [`duplicate resends ${s.duplicates}`] : []),
  ].join('; ');
}
