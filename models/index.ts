/**
 * Models: the engine interface, model-zoo facts, and `createEngine`.
 * Engines are loaded lazily by `createEngine`, so importing this module stays light
 * (an agent that trains with ONNX Runtime never loads TensorFlow.js, and vice versa).
 */
import type { Engine } from './engine.ts';
// type-only: erased at run time, so TensorFlow.js is not loaded
import type { TfjsBackendChoice } from './tfjs/backend.ts';
import type { Logger } from '../common/logger.ts';
import { TinyProtoError } from '../common/errors.ts';

export type {
  Family,
  ModelSpec,
  TrainOptions,
  EpochStats,
  Embedding,
  ModelState,
  LocalModel,
  EngineMemory,
  Engine,
} from './engine.ts';
export { FAMILIES, familyForClient, isFamily } from './zoo-info.ts';

/** The training engines: ONNX Runtime (models/ort, the default) and TensorFlow.js (models/tfjs). */
export type EngineName = 'ort' | 'tfjs';
/** What a user may ask for: an engine, or 'auto' (= 'ort'). */
export type EngineChoice = EngineName | 'auto';
export const ENGINE_CHOICES: readonly EngineChoice[] = Object.freeze(['auto', 'ort', 'tfjs'] as const);

export type { TfjsBackendChoice };
/** ONNX Runtime execution provider: 'auto' uses CUDA when the CUDA provider is present, else CPU. */
export type OrtProviderChoice = 'auto' | 'cpu' | 'cuda';

export interface CreateEngineOptions {
  /** Engine implementation; default 'auto' = ONNX Runtime. */
  engine?: EngineChoice;
  /** tfjs only: 'auto' (tfjs-node if installed, else wasm), 'tensorflow', 'wasm', 'cpu'. */
  backend?: TfjsBackendChoice;
  /** tfjs only: the pure-JS cpu backend must be asked for explicitly (about 100x slower). */
  allowCpu?: boolean;
  /** ort only: intra-op threads per session; undefined = 1 (see learner/engine-settings.ts), 0 = onnxruntime's own default (one per core). */
  threads?: number;
  /** ort only: execution provider. */
  provider?: OrtProviderChoice;
  /** ort only: data-parallel training over this many worker threads (models/ort/parallel.ts); undefined = 1. */
  trainThreads?: number;
  logger?: Logger;
}

/** 'auto' resolves to ONNX Runtime, the fast engine; tfjs stays available with `--engine tfjs`. */
export function resolveEngineName(choice: EngineChoice | undefined): EngineName {
  if (choice === undefined || choice === 'auto' || choice === 'ort') return 'ort';
  if (choice === 'tfjs') return 'tfjs';
  throw new TinyProtoError('E_CONFIG', `unknown engine ${String(choice)}: use ort, tfjs or auto`);
}

/** Create a training engine (initialises its runtime). Call once per thread. */
export async function createEngine(opts: CreateEngineOptions = {}): Promise<Engine> {
  if (resolveEngineName(opts.engine) === 'ort') {
    const { OrtEngine } = await import('./ort/engine.ts');
    return OrtEngine.create({
      ...(opts.threads !== undefined ? { threads: opts.threads } : {}),
      ...(opts.provider !== undefined ? { provider: opts.provider } : {}),
      ...(opts.trainThreads !== undefined ? { trainThreads: opts.trainThreads } : {}),
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    });
  }
  const { TfjsEngine } = await import('./tfjs/engine.ts');
  const init: { backend?: TfjsBackendChoice; allowCpu?: boolean; logger?: Logger } = {};
  if (opts.backend !== undefined) init.backend = opts.backend;
  if (opts.allowCpu !== undefined) init.allowCpu = opts.allowCpu;
  if (opts.logger !== undefined) init.logger = opts.logger;
  return TfjsEngine.create(init);
}
