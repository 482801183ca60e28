/** Messages between the simulation coordinator and a worker thread. */
import type { ModelState } from '../models/engine.ts';
import type { ClientInit, GlobalState, RunnerSettings } from '../learner/types.ts';

export type WorkerRequest =
  | { type: 'init'; settings: RunnerSettings; clients: ClientInit[] }
  | { type: 'train'; round: number; global: GlobalState | null; only?: number[] }
  | { type: 'evaluate'; round: number; global: GlobalState | null }
  | { type: 'getStates' }
  | { type: 'setStates'; states: ModelState[] };

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { code: string; message: string; stack?: string } };

/** Sent (without an id) each time a worker has trained one client. */
export interface WorkerProgress {
  progress: { round: number; client: number };
}
