/**
 * When a round ends (pure): at its deadline a round with enough uploads closes; one with too few
 * is extended, at most `maxExtensions` times; after that it closes with what it has, or, with no
 * upload at all, it is abandoned with a recorded reason. Before the deadline a round closes as
 * soon as no agent it still waits for is online (every selected agent has uploaded, or went
 * offline by its last will) and it has enough uploads, or, with over-selection (`closeAt`), as
 * soon as the first `closeAt` uploads are in; a later upload of that round is stale (E_ROUND).
 * Used by the aggregator (aggregator/aggregator.ts), edge relays and the simulation's simulated
 * rounds (method/round-timing.ts), so that all of them close a round by one rule.
 */

/** How a round ended (kept in the round's summary). */
export type RoundOutcome = 'complete' | 'deadline' | 'below-minimum' | 'abandoned' | 'agents-offline' | 'enough';

export interface RoundProgress {
  /** Selected agents. */
  readonly selected: number;
  /** Uploads accepted so far. */
  readonly accepted: number;
  /** Selected agents that have not uploaded and are offline (their last will). */
  readonly offline: number;
  readonly minUploads: number;
  /** Over-selection: close as soon as this many uploads arrived (null = wait for every selected agent). */
  readonly closeAt: number | null;
  /** Deadline extensions already granted. */
  readonly extensions: number;
  readonly maxExtensions: number;
}

export type DeadlineDecision = { readonly action: 'close'; readonly outcome: RoundOutcome; readonly reason: string } | { readonly action: 'extend'; readonly reason: string };

/** Whether the round can close now, before its deadline (null = keep waiting). */
export function earlyClose(p: RoundProgress): { outcome: RoundOutcome; reason: string } | null {
  if (p.accepted >= p.selected) return { outcome: 'complete', reason: `all ${p.selected} selected agents uploaded` };
  if (p.closeAt !== null && p.accepted >= p.closeAt) return { outcome: 'enough', reason: `over-selection: closed at the first ${p.closeAt} of ${p.selected} selected agents' uploads` };
  if (p.accepted + p.offline >= p.selected && p.accepted >= p.minUploads) {
    return { outcome: 'agents-offline', reason: `${p.accepted} of ${p.selected} uploaded; the other ${p.selected - p.accepted} are offline` };
  }
  return null;
}

/** What to do when the round's deadline passes. */
export function atDeadline(p: RoundProgress): DeadlineDecision {
  if (p.accepted >= p.minUploads) return { action: 'close', outcome: 'deadline', reason: `deadline: ${p.accepted} of ${p.selected} uploaded` };
  if (p.extensions < p.maxExtensions) {
    return { action: 'extend', reason: `deadline: ${p.accepted} of the ${p.minUploads} uploads needed; extension ${p.extensions + 1} of ${p.maxExtensions}` };
  }
  if (p.accepted > 0) {
    return { action: 'close', outcome: 'below-minimum', reason: `closed below the minimum after ${p.maxExtensions} extensions: ${p.accepted} of the ${p.minUploads} uploads needed` };
  }
  return { action: 'close', outcome: 'abandoned', reason: `abandoned after ${p.maxExtensions} extensions: no upload from the ${p.selected} selected agents` };
}
