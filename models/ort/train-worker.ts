/**
 * Worker-thread entry of the data-parallel trainer (parallel.ts): one GradRunner (grad-runner.ts)
 * with its own ONNX Runtime sessions, driven by messages (train-protocol.ts).
 */
import { parentPort } from 'node:worker_threads';
import { TinyProtoError } from '../../common/errors.ts';
import { GradRunner } from './grad-runner.ts';
import type { TrainWorkerReply, TrainWorkerRequest } from './train-protocol.ts';

if (!parentPort) throw new TinyProtoError('E_WORKER', 'models/ort/train-worker.ts must run in a worker thread');
const port = parentPort;
const runner = new GradRunner();

port.on('message', (msg: TrainWorkerRequest & { id: number }) => {
  runner.handle(msg).then(
    (result) => port.postMessage({ id: msg.id, ok: true, result } satisfies TrainWorkerReply),
    (e: unknown) => {
      const err = e as Error & { code?: string };
      port.postMessage({ id: msg.id, ok: false, error: { message: err.message, ...(err.code !== undefined ? { code: err.code } : {}) } } satisfies TrainWorkerReply);
    },
  );
});
