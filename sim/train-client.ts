/**
 * One simulated client's round of training, as an agent runs it (agent/agent.ts): a round whose
 * training diverges (E_DIVERGED: its features came out NaN or infinite) uploads nothing, and the
 * client's weights go back to what they were when the round began, so the next round trains from
 * sound weights. Any other error is a fault of the run, not of the client: it is thrown.
 * Both pools (sim/pool.ts, in this thread; sim/worker.ts, in a worker) train through it.
 */
import { isTinyProtoError } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';
import type { ClientUpload, GlobalState } from '../learner/types.ts';

/** A client whose round did not train: what the round record keeps (sim/records.ts). */
export interface ClientFailure {
  readonly client: number;
  readonly round: number;
  readonly code: string;
  readonly message: string;
}

/** A round's training over a pool's clients: the uploads of those that trained, and the others. */
export interface RoundTraining {
  readonly uploads: ClientUpload[];
  readonly failed: ClientFailure[];
}

/** What trainOrRestore needs of a learner (learner/learner.ts). */
export interface TrainableClient {
  readonly id: number;
  train(round: number, global: GlobalState | null): Promise<ClientUpload>;
  getState(): ModelState;
  setState(state: ModelState): void;
}

/** Trains one client for `round`; on E_DIVERGED restores its weights from before the round and returns the failure. */
export async function trainOrRestore(client: TrainableClient, round: number, global: GlobalState | null): Promise<{ upload: ClientUpload } | { failure: ClientFailure }> {
  const before = client.getState();
  try {
    return { upload: await client.train(round, global) };
  } catch (e) {
    if (!isTinyProtoError(e, 'E_DIVERGED')) throw e;
    client.setState(before);
    return { failure: { client: client.id, round, code: e.code, message: e.message } };
  }
}

/** Trains the clients of a pool in order (those in `only`, default all), each through trainOrRestore. */
export async function trainClients(
  clients: readonly TrainableClient[],
  round: number,
  global: GlobalState | null,
  only: readonly number[] | undefined,
  onTrained?: (client: number) => void,
): Promise<RoundTraining> {
  const out: RoundTraining = { uploads: [], failed: [] };
  for (const c of clients) {
    if (only !== undefined && !only.includes(c.id)) continue;
    const r = await trainOrRestore(c, round, global);
    if ('upload' in r) out.uploads.push(r.upload);
    else out.failed.push(r.failure);
    onTrained?.(c.id);
  }
  return out;
}
