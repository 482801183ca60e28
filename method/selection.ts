/**
 * Which agents take part in a round: the k agents with the smallest selection ranks, where an
 * agent's rank is a hash of (experiment, round, agent id) (PROTOCOL.md §3.2). Pure and
 * reproducible; an agent can compute its own rank, so a round can be announced by a threshold
 * (the k-th smallest rank) instead of a list of ids, at any fleet size. Adding or removing an
 * agent never reshuffles the others: each agent's rank depends on its own id only.
 */
import { createHash } from 'node:crypto';

/** Number of agents selected each round: round(fraction * n), at least one. */
export function participantsPerRound(agents: number, fraction: number): number {
  return Math.min(agents, Math.max(1, Math.round(fraction * agents)));
}

/** The agent's selection rank for a round: 53 bits of SHA-256("tinyproto-select/{experiment}/{round}/{agent}"). */
export function selectionRank(experiment: string, round: number, agent: string): number {
  const h = createHash('sha256').update(`tinyproto-select/${experiment}/${round}/${agent}`, 'latin1').digest();
  // the first 8 bytes as a u64 little-endian, shifted right by 11: hi * 2^21 + (lo >>> 11), exact in a double
  return h.readUInt32LE(4) * 2 ** 21 + (h.readUInt32LE(0) >>> 11);
}

export interface Selection {
  /** Selected agent ids, sorted. */
  readonly selected: string[];
  /** The largest selected rank (null when everyone takes part): an agent is in iff rank <= threshold. */
  readonly threshold: number | null;
}

/** The agents of `round`: everyone when fraction is 1, else the k smallest ranks. */
export function selectParticipants(agents: readonly string[], fraction: number, experiment: string, round: number): Selection {
  const k = participantsPerRound(agents.length, fraction);
  if (k === agents.length) return { selected: [...agents].sort(), threshold: null };
  const ranked = agents.map((a) => ({ a, rank: selectionRank(experiment, round, a) })).sort((x, y) => x.rank - y.rank || (x.a < y.a ? -1 : 1));
  const chosen = ranked.slice(0, k);
  return { selected: chosen.map((c) => c.a).sort(), threshold: chosen[chosen.length - 1]!.rank };
}

/** Whether an agent takes part in a round announced with a list (empty = everyone) or a rank threshold. */
export function isSelected(agent: string, experiment: string, round: number, announced: { selected: readonly string[]; rankThreshold?: number }): boolean {
  if (announced.rankThreshold !== undefined) return selectionRank(experiment, round, agent) <= announced.rankThreshold;
  return announced.selected.length === 0 || announced.selected.includes(agent);
}
