/** Reading the accuracy each agent recorded in its own store (also while the agent runs). */
import { existsSync } from 'node:fs';
import { openAgentStoreReadOnly } from '../agent/store-view.ts';

export interface AgentEvaluation {
  readonly agent: string;
  readonly round: number;
  readonly testCount: number;
  readonly accuracyHead: number;
  readonly accuracyPrototype: number | null;
}

/** The evaluations of rounds 1..rounds that the agent's store holds, by round (none when the file does not exist yet). */
export function readAgentEvaluations(path: string, agent: string, experiment: string, rounds: number): AgentEvaluation[] {
  if (!existsSync(path)) return [];
  const view = openAgentStoreReadOnly(path);
  try {
    return view
      .evaluations(experiment)
      .filter((e) => e.round <= rounds)
      .map((e) => ({ agent, round: e.round, testCount: e.testCount, accuracyHead: e.accuracyHead, accuracyPrototype: e.accuracyPrototype }));
  } finally {
    view.close();
  }
}
