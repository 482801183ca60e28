/**
 * A simulation's summary (best and last accuracies, bytes, simulated timing) and the per-round
 * figures simulate.ts derives from its clients' evaluations. Pure.
 */
import type { ClientEval } from '../learner/types.ts';
import type { PrototypeEvalRule } from '../method/experiment.ts';
import { weightedAccuracy } from '../learner/eval.ts';
import type { RoundRecord } from './records.ts';
import { timingSummary, type TimingSummary } from './timing.ts';

export interface SimSummary {
  readonly best: { readonly accuracyHead: number; readonly roundHead: number; readonly accuracyPrototype: number | null; readonly roundPrototype: number | null };
  readonly last: { readonly accuracyHead: number; readonly accuracyPrototype: number | null; readonly accuracyPrototypeOwn: number | null };
  /** Best of the comparable prototype metric (each client's own classes). */
  readonly bestPrototypeOwn: number | null;
  readonly totalBytesUp: number;
  readonly totalBytesDown: number;
  readonly meanBytesUpPerClientRound: number;
  readonly meanBytesDownPerClientRound: number;
  /** Client-rounds whose training diverged (RoundRecord.failed): 0 in a sound run (absent in runs stored before it was kept). */
  readonly failedClientRounds?: number;
  /** Simulated round times (p50 / p95), stragglers and churn: only with simulated links and boards. */
  readonly timing?: TimingSummary;
}

export function summarise(rounds: readonly RoundRecord[]): SimSummary {
  const timing = timingSummary(rounds);
  let bestH = -1;
  let bestHR = 0;
  let bestP: number | null = null;
  let bestPR: number | null = null;
  let up = 0;
  let down = 0;
  let clientRounds = 0;
  let failed = 0;
  for (const r of rounds) {
    failed += r.failed?.length ?? 0;
    if (r.accuracyHead !== null && r.accuracyHead > bestH) {
      bestH = r.accuracyHead;
      bestHR = r.round;
    }
    if (r.accuracyPrototype !== null && (bestP === null || r.accuracyPrototype > bestP)) {
      bestP = r.accuracyPrototype;
      bestPR = r.round;
    }
    up += r.bytesUp;
    down += r.bytesDown;
    clientRounds += r.clients.length;
  }
  const last = rounds[rounds.length - 1];
  return {
    best: { accuracyHead: Math.max(bestH, 0), roundHead: bestHR, accuracyPrototype: bestP, roundPrototype: bestPR },
    last: { accuracyHead: last?.accuracyHead ?? 0, accuracyPrototype: last?.accuracyPrototype ?? null, accuracyPrototypeOwn: last?.accuracyPrototypeOwn ?? null },
    bestPrototypeOwn: rounds.reduce<number | null>((b, r) => (r.accuracyPrototypeOwn !== null && (b === null || r.accuracyPrototypeOwn > b) ? r.accuracyPrototypeOwn : b), null),
    totalBytesUp: up,
    totalBytesDown: down,
    meanBytesUpPerClientRound: clientRounds ? up / clientRounds : 0,
    meanBytesDownPerClientRound: clientRounds ? down / clientRounds : 0,
    failedClientRounds: failed,
    ...(timing ? { timing } : {}),
  };
}

/** The clients whose uploads a round counted: those that arrived in time, or (without timing) every selected one that trained. */
export function roundUploaders(r: Pick<RoundRecord, 'selected' | 'timing' | 'failed'>): readonly number[] {
  if (r.timing) return r.timing.uploaded;
  const failed = new Set((r.failed ?? []).map((f) => f.client));
  return failed.size === 0 ? r.selected : r.selected.filter((c) => !failed.has(c));
}

/** Per class, how many of a round's selected clients hold it (each uploads every class it holds). */
export function roundContributors(selected: readonly number[], clients: readonly { readonly client: number; readonly classes: readonly number[] }[], K: number): Int32Array {
  const out = new Int32Array(K);
  for (const c of clients) if (selected.includes(c.client)) for (const j of c.classes) out[j]!++;
  return out;
}

/** The all-K prototype accuracy under each evaluation rule (null before any prototype, and for Local). */
export function byRule(evals: readonly ClientEval[]): RoundRecord['accuracyPrototypeByRule'] {
  const rule = (r: PrototypeEvalRule): number | null => weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.prototypeCorrectByRule?.[r] ?? null })));
  return evals.some((e) => (e.prototypeCorrectByRule ?? null) !== null) ? { full: rule('full'), masked: rule('masked'), cosine: rule('cosine'), spread: rule('spread') } : null;
}
