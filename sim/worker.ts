/** Worker thread entry: holds a group of simulated clients and their models. */
import { parentPort } from 'node:worker_threads';
import { createEngine } from '../models/index.ts';
import { Learner } from '../learner/learner.ts';
import { engineOptions } from '../learner/engine-settings.ts';
import type { WorkerProgress, WorkerReply, WorkerRequest } from './worker-protocol.ts';
import { TinyProtoError } from '../common/errors.ts';
import { trainClients } from './train-client.ts';

if (!parentPort) throw new TinyProtoError('E_WORKER', 'sim/worker.ts must run in a worker thread');
const port = parentPort;
let clients: Learner[] = [];

async function handle(req: WorkerRequest): Promise<unknown> {
  switch (req.type) {
    case 'init': {
      // settings.threads is already this worker's share of the cores (sim/simulate.ts)
      const engine = await createEngine(engineOptions(req.settings));
      clients = req.clients.map((c) => new Learner(engine, c, req.settings));
      return clients.map((c) => c.info());
    }
    case 'train':
      return trainClients(clients, req.round, req.global, req.only, (client) => port.postMessage({ progress: { round: req.round, client } } satisfies WorkerProgress));
    case 'evaluate': {
      const out = [];
      for (const c of clients) out.push(await c.evaluate(req.round, req.global));
      return out;
    }
    case 'getStates':
      return clients.map((c) => c.getState());
    case 'setStates':
      clients.forEach((c, i) => c.setState(req.states[i]!));
      return null;
  }
}

port.on('message', (msg: WorkerRequest & { id: number }) => {
  handle(msg).then(
    (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies WorkerReply),
    (e: unknown) => {
      const err = e as { code?: unknown; message?: unknown; stack?: unknown };
      port.postMessage({
        id: msg.id,
        ok: false,
        error: {
          code: typeof err.code === 'string' ? err.code : 'E_WORKER',
          message: typeof err.message === 'string' ? err.message : String(e),
          ...(typeof err.stack === 'string' ? { stack: err.stack } : {}),
        },
      } satisfies WorkerReply);
    },
  );
});
