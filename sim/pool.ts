/**
 * A pool of simulated clients: in the calling thread, or spread over worker threads, each with
 * its own engine created from the RunnerSettings (engine, tfjs backend, ONNX Runtime threads and
 * provider). Workers are how a simulation uses several cores with the single-threaded tfjs wasm
 * backend; with ONNX Runtime each worker's engine gets its share of the cores as intra-op threads.
 */
import { Worker } from 'node:worker_threads';
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { COMPILED } from '../common/runtime.ts';
import type { Engine, ModelState } from '../models/engine.ts';
import { Learner } from '../learner/learner.ts';
import type { ClientEval, ClientInit, GlobalState, ModelInfo, RunnerSettings } from '../learner/types.ts';
import type { WorkerProgress, WorkerReply, WorkerRequest } from './worker-protocol.ts';
import { trainClients, type RoundTraining } from './train-client.ts';

export interface ClientPool {
  /** Builds every client's model; returns their descriptions. */
  readonly models: readonly ModelInfo[];
  /**
   * Trains the clients in `only` (default every client); `onTrained` is called as each one
   * finishes. A client whose training diverged is in `failed`, its weights as before the round
   * (sim/train-client.ts).
   */
  train(round: number, global: GlobalState | null, onTrained?: (client: number) => void, only?: readonly number[]): Promise<RoundTraining>;
  evaluate(round: number, global: GlobalState | null): Promise<ClientEval[]>;
  /** Every client's model state, in client order (checkpoints). */
  getStates(): Promise<ModelState[]>;
  /** Restores what getStates returned. */
  setStates(states: readonly ModelState[]): Promise<void>;
  close(): Promise<void>;
}

/** Clients run one after another in this thread. */
export class InProcessPool implements ClientPool {
  readonly models: readonly ModelInfo[];
  private readonly clients: Learner[];

  constructor(engine: Engine, inits: readonly ClientInit[], settings: RunnerSettings) {
    this.clients = inits.map((i) => new Learner(engine, i, settings));
    this.models = this.clients.map((c) => c.info());
  }

  async train(round: number, global: GlobalState | null, onTrained?: (client: number) => void, only?: readonly number[]): Promise<RoundTraining> {
    return trainClients(this.clients, round, global, only, onTrained);
  }

  async evaluate(round: number, global: GlobalState | null): Promise<ClientEval[]> {
    const out: ClientEval[] = [];
    for (const c of this.clients) out.push(await c.evaluate(round, global));
    return out;
  }

  async getStates(): Promise<ModelState[]> {
    return this.clients.map((c) => c.getState());
  }

  async setStates(states: readonly ModelState[]): Promise<void> {
    checkStates(states, this.clients.length);
    this.clients.forEach((c, i) => c.setState(states[i]!));
  }

  async close(): Promise<void> {
    for (const c of this.clients) c.dispose();
  }
}

function checkStates(states: readonly ModelState[], clients: number): void {
  if (states.length !== clients) throw new TinyProtoError('E_CONFIG', `${states.length} client states for ${clients} clients`);
}

/**
 * Longest-processing-time assignment of clients to `n` workers, by estimated cost
 * (training samples x relative cost of the family).
 */
export function assignClients(costs: readonly number[], n: number): number[][] {
  const order = costs.map((c, i) => [c, i] as const).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
  const bins = Array.from({ length: n }, () => ({ load: 0, ids: [] as number[] }));
  for (const [c, i] of order) {
    let best = bins[0]!;
    for (const b of bins) if (b.load < best.load) best = b;
    best.load += c;
    best.ids.push(i);
  }
  return bins.map((b) => b.ids.sort((a, b2) => a - b2));
}

/**
 * Promise.all that waits for every worker's call to settle before it rejects with the first
 * failure: a worker whose client failed must not be terminated (pool.close) while another is still
 * inside an ONNX Runtime run, which aborts the whole process ("terminate called after throwing an
 * instance of 'Napi::Error'") instead of reporting the failure.
 */
async function settleAll<T>(calls: readonly Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(calls);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

class WorkerHandle {
  private readonly worker: Worker;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private failed: Error | null = null;
  onProgress: ((p: WorkerProgress['progress']) => void) | null = null;

  constructor(index: number, logger: Logger) {
    // Compiled: the worker itself; from sources: a bootstrap registers tsx in the thread, then runs the TypeScript worker.
    this.worker = new Worker(new URL(COMPILED ? './worker.js' : './worker-boot.mjs', import.meta.url), { name: `tinyproto-sim-${index}` });
    this.worker.on('message', (m: WorkerReply | WorkerProgress) => {
      if ('progress' in m) {
        this.onProgress?.(m.progress);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new TinyProtoError('E_WORKER', `worker ${index}: ${m.error.message}`, { code: m.error.code, stack: m.error.stack }));
    });
    const die = (e: Error): void => {
      this.failed = e;
      logger.error('simulation worker failed', { worker: index, error: e.message });
      for (const p of this.pending.values()) p.reject(new TinyProtoError('E_WORKER', `worker ${index} failed: ${e.message}`));
      this.pending.clear();
    };
    this.worker.on('error', die);
    this.worker.on('exit', (code) => {
      if (code !== 0 && this.pending.size > 0) die(new TinyProtoError('E_WORKER', `exited with code ${code}`));
    });
  }

  call<T>(req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.failed) return Promise.reject(new TinyProtoError('E_WORKER', `worker failed earlier: ${this.failed.message}`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id }, transfer);
    });
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Clients spread over worker threads; each worker trains its clients one after another. */
export class WorkerPool implements ClientPool {
  models: readonly ModelInfo[] = [];
  private readonly workers: WorkerHandle[];
  private readonly numClients: number;
  /** Client indexes each worker holds, in its order. */
  private readonly groups: number[][];

  private constructor(workers: WorkerHandle[], numClients: number, groups: number[][]) {
    this.workers = workers;
    this.numClients = numClients;
    this.groups = groups;
  }

  static async create(
    inits: readonly ClientInit[],
    settings: RunnerSettings,
    workers: number,
    costs: readonly number[],
    logger: Logger,
  ): Promise<WorkerPool> {
    const groups = assignClients(costs, workers).filter((g) => g.length > 0);
    const handles = groups.map((_, i) => new WorkerHandle(i, logger));
    const pool = new WorkerPool(handles, inits.length, groups);
    try {
      const infos = await settleAll(
        handles.map((h, w) => h.call<ModelInfo[]>({ type: 'init', settings, clients: groups[w]!.map((i) => inits[i]!) })),
      );
      pool.models = pool.collect(infos);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  private collect<T extends { client: number }>(parts: T[][]): T[] {
    const out: T[] = [];
    for (const part of parts) out.push(...part);
    return out.sort((a, b) => a.client - b.client);
  }

  async train(round: number, global: GlobalState | null, onTrained?: (client: number) => void, only?: readonly number[]): Promise<RoundTraining> {
    for (const w of this.workers) w.onProgress = onTrained ? (p) => onTrained(p.client) : null;
    const parts = await settleAll(this.workers.map((h) => h.call<RoundTraining>({ type: 'train', round, global, ...(only ? { only: [...only] } : {}) })));
    return { uploads: this.collect(parts.map((p) => p.uploads)), failed: this.collect(parts.map((p) => p.failed)) };
  }

  async evaluate(round: number, global: GlobalState | null): Promise<ClientEval[]> {
    const parts = await settleAll(this.workers.map((h) => h.call<ClientEval[]>({ type: 'evaluate', round, global })));
    return this.collect(parts);
  }

  async getStates(): Promise<ModelState[]> {
    const parts = await settleAll(this.workers.map((h) => h.call<ModelState[]>({ type: 'getStates' })));
    const out = new Array<ModelState>(this.numClients);
    parts.forEach((part, w) => part.forEach((s, k) => (out[this.groups[w]![k]!] = s)));
    return out;
  }

  async setStates(states: readonly ModelState[]): Promise<void> {
    checkStates(states, this.numClients);
    await settleAll(this.workers.map((h, w) => h.call<null>({ type: 'setStates', states: this.groups[w]!.map((i) => states[i]!) })));
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }

}
