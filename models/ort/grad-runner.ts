/**
 * Runs the training graph's 'grads' variant (gradients out, no update) on one part of each batch,
 * with inputs and outputs in SharedArrayBuffers bound once per epoch: the body of a
 * data-parallel training worker (train-worker.ts), and, run in the calling thread, the
 * single-core trainer with the same per-part batch-norm semantics (parallel.ts).
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TinyProtoError } from '../../common/errors.ts';
import { createSession, loadOrt, type OrtSession, type OrtTensor } from './runtime.ts';
import type { SharedSlot, TrainWorkerRequest, TrainWorkerStats } from './train-protocol.ts';

/**
 * onnxruntime-node's binding refuses tensors over SharedArrayBuffers ("Invalid argument"), so
 * the session reads and writes thread-local mirrors of the shared buffers, copied in one block
 * each way per step (about 0.5 MB for ResNet-8, microseconds against a step's milliseconds).
 */
interface Mirror {
  readonly shared: Float32Array;
  readonly local: Float32Array;
}

interface Bound {
  readonly session: OrtSession;
  readonly feeds: Record<string, OrtTensor>;
  readonly fetches: Record<string, OrtTensor>;
  readonly weights: Mirror;
  readonly inputs: Mirror;
  readonly outputs: Mirror;
  readonly inputSlots: readonly SharedSlot[];
  readonly capacity: number;
}

/**
 * Full garbage collections of this thread's isolate (V8's gc exposed in a throw-away context),
 * with pauses between them so that the finalisers releasing array buffers run too.
 */
async function fullGc(): Promise<void> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const mirror = (buf: SharedArrayBuffer): Mirror => {
  const shared = new Float32Array(buf);
  return { shared, local: new Float32Array(shared.length) };
};

export class GradRunner {
  private bound: Bound | null = null;
  private steps = 0;
  private tensorsCreated = 0;

  /** `sessions` may be shared by runners of one thread (sessions run one at a time there). */
  constructor(private readonly sessions: Map<string, OrtSession> = new Map()) {}

  private async tensorOver(buf: Float32Array, s: SharedSlot, rows?: number): Promise<OrtTensor> {
    const ort = await loadOrt();
    this.tensorsCreated++;
    const dims = [...s.dims];
    let length = s.length;
    if (rows !== undefined && dims.length > 0) {
      length = (s.length / dims[0]!) * rows;
      dims[0] = rows;
    }
    return new ort.Tensor('float32', buf.subarray(s.offset, s.offset + length), dims);
  }

  async handle(req: TrainWorkerRequest): Promise<unknown> {
    switch (req.kind) {
      case 'load': {
        if (!this.sessions.has(req.key)) this.sessions.set(req.key, await createSession(await loadOrt(), req.bytes, { threads: req.threads, provider: 'cpu' }));
        return null;
      }
      case 'bind': {
        const session = this.sessions.get(req.key);
        if (session === undefined) throw new TinyProtoError('E_WORKER', `train worker: no session for ${req.key}`);
        const feeds: Record<string, OrtTensor> = {};
        const fetches: Record<string, OrtTensor> = {};
        const weights = mirror(req.weights);
        const inputs = mirror(req.inputs);
        const outputs = mirror(req.outputs);
        for (const s of req.weightSlots) feeds[s.name] = await this.tensorOver(weights.local, s);
        for (const s of req.inputSlots) feeds[s.name] = await this.tensorOver(inputs.local, s);
        for (const s of req.outputSlots) fetches[s.name] = await this.tensorOver(outputs.local, s);
        this.bound = { session, feeds, fetches, weights, inputs, outputs, inputSlots: req.inputSlots, capacity: req.inputSlots[0]!.dims[0]! };
        return null;
      }
      case 'step': {
        const b = this.bound;
        if (b === null) throw new TinyProtoError('E_WORKER', 'train worker: step before bind');
        let feeds = b.feeds;
        if (req.rows !== b.capacity) {
          // a part smaller than the bound capacity (the epoch's last batch): views of its rows
          feeds = { ...b.feeds };
          for (const s of b.inputSlots) if (s.dims.length > 0 && s.fixed !== true) feeds[s.name] = await this.tensorOver(b.inputs.local, s, req.rows);
        }
        b.weights.local.set(b.weights.shared);
        b.inputs.local.set(b.inputs.shared);
        await b.session.run(feeds, b.fetches);
        b.outputs.shared.set(b.outputs.local);
        this.steps++;
        return null;
      }
      case 'stats': {
        if (req.collect === true) await fullGc();
        const m = process.memoryUsage();
        const stats: TrainWorkerStats = {
          steps: this.steps,
          boundTensors: this.bound === null ? 0 : Object.keys(this.bound.feeds).length + Object.keys(this.bound.fetches).length,
          tensorsCreated: this.tensorsCreated,
          heapUsedBytes: m.heapUsed,
          externalBytes: m.external,
          arrayBuffersBytes: m.arrayBuffers,
        };
        return stats;
      }
    }
  }
}
