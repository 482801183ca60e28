/**
 * Messages between the data-parallel trainer (parallel.ts) and its worker threads
 * (train-worker.ts). Tensors travel as SharedArrayBuffers bound once per epoch, so a step's
 * message carries only the part size.
 */

/** One graph input or output: a Float32Array view `offset`, `length` floats into a shared buffer. */
export interface SharedSlot {
  readonly name: string;
  readonly offset: number;
  readonly length: number;
  readonly dims: readonly number[];
  /** An input the same for every row (an epoch constant): a smaller part keeps its full dims. */
  readonly fixed?: true;
}

export type TrainWorkerRequest =
  | { readonly kind: 'load'; readonly key: string; readonly bytes: Uint8Array; readonly threads: number }
  | {
      readonly kind: 'bind';
      readonly key: string;
      /** Parameters and running statistics (read-only during a step), shared by every worker. */
      readonly weights: SharedArrayBuffer;
      readonly weightSlots: readonly SharedSlot[];
      /** This worker's batch part: x, onehot, protoTarget, protoWeight, lambda (dims[0] = capacity, 'N'). */
      readonly inputs: SharedArrayBuffer;
      readonly inputSlots: readonly SharedSlot[];
      /** This worker's outputs: loss [3], every gradient and next running statistic. */
      readonly outputs: SharedArrayBuffer;
      readonly outputSlots: readonly SharedSlot[];
    }
  | { readonly kind: 'step'; readonly rows: number }
  /** `collect`: run a full garbage collection first, so the figures are what is live. */
  | { readonly kind: 'stats'; readonly collect?: boolean };

export type TrainWorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly message: string; readonly code?: string } };

/** What a worker reports about itself (tests: ORT buffers must not grow across steps). */
export interface TrainWorkerStats {
  readonly steps: number;
  /** Tensors this worker holds bound (created at bind; a step creates none for full parts). */
  readonly boundTensors: number;
  /** Tensors created over the worker's life (binds and partial parts only). */
  readonly tensorsCreated: number;
  /** process.memoryUsage() of the whole process as seen from this thread, and this isolate's heap. */
  readonly heapUsedBytes: number;
  readonly externalBytes: number;
  readonly arrayBuffersBytes: number;
}
