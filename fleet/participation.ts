/**
 * Who took part in each round of a fleet run (pure): selected (the experiment's selection rule,
 * method/selection.ts), uploaded (the aggregator's store), offline (the plans' schedule), crashed
 * mid-upload (the churn events), and, from the receipts in the agents' outboxes, the uploads
 * refused as stale (E_ROUND: the round had closed) and the resends answered as duplicates (the
 * upload was counted already).
 */
import { isOffline, type AgentPlan } from '../method/fleet-plan.ts';
import type { ChurnEvent, ChurnExit } from './churn.ts';
import type { AgentUploadOutcome } from './evaluations.ts';

/** The file in a fleet's run directory with its churn events, participation and crash outcomes ({experiment, churn, participation, crashes}). */
export const PARTICIPATION_FILE = 'participation.json';

export interface RoundParticipation {
  readonly round: number;
  /** How the round ended (aggregator/round-policy.ts), null while open. */
  readonly outcome: string | null;
  readonly selected: readonly string[];
  /** Agents whose upload of this round the aggregator counted. */
  readonly uploaded: readonly string[];
  /** Agents the schedule had offline in this round (selected or not). */
  readonly offline: readonly string[];
  /** Agents killed while uploading this round. */
  readonly crashed: readonly string[];
  /** Agents whose upload of this round was refused as stale (E_ROUND). */
  readonly late: readonly string[];
  /** Agents whose upload of this round was answered as a duplicate (a resend of an upload counted already). */
  readonly duplicates: readonly string[];
}

/** What became of an upload interrupted by a crash. */
export interface CrashOutcome {
  readonly agent: string;
  readonly round: number;
  /** The killed process and how it ended ('SIGKILL'). */
  readonly pid: number | null;
  readonly signal: string | null;
  readonly restarted: boolean;
  /** Whether the aggregator counted the round's upload (at most once: its store holds one per agent and round). */
  readonly counted: boolean;
  /** 'counted' (once), 'duplicate' (counted before the kill; the resend was answered as a duplicate), 'stale' (refused, E_ROUND), 'lost' (neither). */
  readonly outcome: 'counted' | 'duplicate' | 'stale' | 'lost';
}

export interface ParticipationInput {
  readonly plans: readonly AgentPlan[];
  /** Rounds with their outcome, null when not closed. */
  readonly rounds: readonly { round: number; outcome: string | null }[];
  readonly selected: (round: number) => readonly string[];
  readonly uploaded: (round: number) => readonly string[];
  /** Every agent's outbox with its receipts (fleet/evaluations.ts readAgentUploads). */
  readonly outbox: readonly Pick<AgentUploadOutcome, 'agent' | 'round' | 'outcome' | 'code'>[];
  readonly churn: readonly ChurnEvent[];
  readonly exits: readonly ChurnExit[];
}

const sorted = (xs: Iterable<string>): string[] => [...new Set(xs)].sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));

export function participation(i: ParticipationInput): RoundParticipation[] {
  const answered = (round: number, f: (o: ParticipationInput['outbox'][number]) => boolean): string[] => sorted(i.outbox.filter((o) => o.round === round && f(o)).map((o) => o.agent));
  return i.rounds.map(({ round, outcome }) => ({
    round,
    outcome,
    selected: sorted(i.selected(round)),
    uploaded: sorted(i.uploaded(round)),
    offline: sorted(i.plans.filter((p) => isOffline(p, round)).map((p) => p.id)),
    crashed: sorted(i.churn.filter((e) => e.action === 'crash' && e.round === round).map((e) => e.agent)),
    late: answered(round, (o) => o.outcome === 'rejected' && o.code === 'E_ROUND'),
    duplicates: answered(round, (o) => o.outcome === 'duplicate'),
  }));
}

export function crashOutcomes(i: Pick<ParticipationInput, 'uploaded' | 'outbox' | 'churn' | 'exits'>): CrashOutcome[] {
  return i.churn
    .filter((e) => e.action === 'crash')
    .map((e) => {
      const exit = i.exits.find((x) => x.action === 'crash' && x.agent === e.agent && x.round === e.round) ?? null;
      const counted = i.uploaded(e.round).includes(e.agent);
      const o = i.outbox.find((u) => u.round === e.round && u.agent === e.agent);
      const outcome = counted ? (o?.outcome === 'duplicate' ? 'duplicate' : 'counted') : o?.outcome === 'rejected' && o.code === 'E_ROUND' ? 'stale' : 'lost';
      return {
        agent: e.agent,
        round: e.round,
        pid: e.pid,
        signal: exit?.signal ?? null,
        restarted: i.churn.some((x) => x.action === 'restart' && x.agent === e.agent && x.round === e.round),
        counted,
        outcome,
      };
    });
}

/**
 * One line per round for a summary: "round 2 (deadline): uploaded 3/4 selected (missing agent-1);
 * offline agent-1; crashed mid-upload agent-4 (stale)"; the selected agents are listed when
 * fewer than `agents` were.
 */
export function participationLines(rounds: readonly RoundParticipation[], crashes: readonly CrashOutcome[], agents: number | null = null): string[] {
  return rounds.map((r) => {
    const parts = [`uploaded ${r.uploaded.length}/${r.selected.length} selected${r.selected.length > r.uploaded.length ? ` (missing ${r.selected.filter((a) => !r.uploaded.includes(a)).join(', ')})` : ''}`];
    // with partial participation, who was selected
    if (agents !== null && r.selected.length < agents) parts.unshift(`selected ${r.selected.join(', ')}`);
    if (r.offline.length) parts.push(`offline ${r.offline.join(', ')}`);
    if (r.crashed.length) parts.push(`crashed mid-upload ${r.crashed.map((a) => `${a} (${crashes.find((c) => c.agent === a && c.round === r.round)?.outcome ?? '?'})`).join(', ')}`);
    if (r.late.length) parts.push(`late (stale, E_ROUND) ${r.late.join(', ')}`);
    if (r.duplicates.length) parts.push(`duplicate resends ${r.duplicates.join(', ')}`);
    return `round ${r.round}${r.outcome ? ` (${r.outcome})` : ''}: ${parts.join('; ')}`;
  });
}
