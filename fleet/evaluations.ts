/** Reading what each agent recorded in its own store (also while the agent runs): its accuracy, its uploads' outcomes. */
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

/** An upload in an agent's outbox and how the aggregator answered it (null outcome: not settled yet). */
export interface AgentUploadOutcome {
  readonly agent: string;
  readonly round: number;
  readonly attempts: number;
  readonly outcome: 'accepted' | 'duplicate' | 'rejected' | null;
  readonly code: string | null;
}

/** The uploads the agent's store holds with their receipts' outcomes (none when the file does not exist). */
export function readAgentUploads(path: string, agent: string, experiment: string): AgentUploadOutcome[] {
  if (!existsSync(path)) return [];
  const view = openAgentStoreReadOnly(path);
  try {
    return view.outbox(experiment).map((u) => ({ agent, round: u.round, attempts: u.attempts, outcome: u.outcome, code: u.code }));
  } finally {
    view.close();
  }
}
