/** Which agents take part in a round: pure and reproducible from the experiment seed. */
import { Rng } from '../common/rng.ts';

/** Number of agents selected each round: round(fraction * n), at least one. */
export function participantsPerRound(agents: number, fraction: number): number {
  return Math.min(agents, Math.max(1, Math.round(fraction * agents)));
}

/** The selected agent ids of `round`, sorted; everyone when fraction is 1. */
export function selectParticipants(agents: readonly string[], fraction: number, seed: number, round: number): string[] {
  const k = participantsPerRound(agents.length, fraction);
  if (k === agents.length) return [...agents].sort();
  const pool = [...agents].sort();
  Rng.derive(seed, `participants:${round}`).shuffle(pool);
  return pool.slice(0, k).sort();
}
