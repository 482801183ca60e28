/**
 * A round's announcement, pure: who is selected (method/selection.ts) and the ROUND message
 * that says so, by list or, above ROUND_LIST_LIMIT agents, by rank threshold, so that it stays
 * small at any fleet size; and, after the last round, waiting for the agents' final telemetry.
 */
import { encodeRound } from '../wire/codec.ts';
import { selectParticipants } from '../method/selection.ts';
import type { ExperimentConfig } from './config.ts';
import type { AggregatorStore } from './store.ts';

/** Above this many selected agents a ROUND announces a rank threshold instead of a list of ids. */
export const ROUND_LIST_LIMIT = 1000;

export function announceRound(c: ExperimentConfig, sender: string, round: number, deadlineMs: number): { selected: string[]; bytes: Uint8Array } {
  const { selected, threshold } = selectParticipants(c.agents, c.participation, c.experiment, round);
  const byRank = threshold !== null && selected.length > ROUND_LIST_LIMIT;
  const bytes = encodeRound(
    { experiment: c.experiment, sender, round },
    {
      method: c.method,
      valueType: c.valueType,
      deadlineMs,
      lambda: c.lambda,
      lr: c.lr,
      batchSize: c.batchSize,
      localEpochs: c.localEpochs,
      selected: threshold === null || byRank ? [] : selected,
      ...(byRank ? { rankThreshold: threshold } : {}),
    },
  );
  return { selected, bytes };
}

/**
 * Resolves when every agent that uploaded in `round` has its telemetry of that round in the
 * store, or after `timeoutMs`, with the agents still missing.
 */
export async function awaitTelemetry(store: AggregatorStore, experiment: string, round: number, timeoutMs: number, now: () => number): Promise<string[]> {
  const expected = new Set(store.uploadsFor(experiment, round).map((u) => u.agent));
  const missing = (): string[] => {
    const have = new Set(store.telemetry(experiment).filter((t) => t.round === round).map((t) => t.agent));
    return [...expected].filter((a) => !have.has(a)).sort();
  };
  const end = now() + timeoutMs;
  while (missing().length > 0 && now() < end) await new Promise((r) => setTimeout(r, 100));
  return missing();
}
