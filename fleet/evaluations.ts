/** Reading the accuracy each agent recorded in its own store (also while the agent runs). */
import { readAgentMeta } from '../agent/store.ts';

export interface AgentEvaluation {
  readonly agent: string;
  readonly round: number;
  readonly testCount: number;
  readonly accuracyHead: number;
  readonly accuracyPrototype: number | null;
}

/** The evaluations of rounds 1..rounds that the agent's store holds, by round. */
export function readAgentEvaluations(path: string, agent: string, experiment: string, rounds: number): AgentEvaluation[] {
  const prefix = `eval:${experiment}:`;
  const out: AgentEvaluation[] = [];
  for (const [key, value] of Object.entries(readAgentMeta(path, prefix))) {
    const round = Number(key.slice(prefix.length));
    if (!Number.isInteger(round) || round < 1 || round > rounds) continue;
    const e = JSON.parse(value) as { testCount: number; accuracyHead: number; accuracyPrototype: number | null };
    out.push({ agent, round, testCount: e.testCount, accuracyHead: e.accuracyHead, accuracyPrototype: e.accuracyPrototype });
  }
  return out.sort((a, b) => a.round - b.round);
}
