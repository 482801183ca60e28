/**
 * Charts that stay readable at 20-100 agents: above MAX_AGENT_LINES agents a per-agent quantity
 * is drawn as its median over the agents and a 10th-90th percentile band (two dashed lines of
 * the same colour), instead of one line per agent from a 10-colour palette.
 */
import type { LineSeries } from './svg.ts';
import { quantile } from '../common/stats.ts';

/** One line per agent up to this many agents; the median and a percentile band above. */
export const MAX_AGENT_LINES = 10;

/** The q-quantile (0..1) of sorted values, linearly interpolated (common/stats.ts). */
export { quantile };

/**
 * `values(round)` gives the agents' values in that round (nulls dropped): three series named
 * "NAME: median of N agents", "NAME: 10th percentile", "NAME: 90th percentile".
 */
export function bandSeries(name: string, rounds: readonly number[], values: (round: number) => readonly (number | null)[], color: string, agents: number): LineSeries[] {
  const at = (q: number) =>
    rounds.map((r) => {
      const v = values(r)
        .filter((x): x is number => x !== null && Number.isFinite(x))
        .sort((a, b) => a - b);
      return { x: r, y: v.length === 0 ? null : quantile(v, q) };
    });
  return [
    { name: `${name}: median of ${agents} agents`, points: at(0.5), color },
    { name: `${name}: 10th percentile`, points: at(0.1), color, dashed: true },
    { name: `${name}: 90th percentile`, points: at(0.9), color, dashed: true },
  ];
}
