/**
 * Models: the engine interface, model-zoo facts, and `createEngine`.
 * TensorFlow.js is loaded lazily by `createEngine`, so importing this module stays light.
 */
import type { Engine } from './engine.ts';
import type { Logger } from '../protocol/logger.ts';

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
export { FAMILIES, ALL_FAMILY_NAMES, familyForClient, isFamily } from './zoo-info.ts';

export interface CreateEngineOptions {
  /** Engine implementation; only 'tfjs' exists for now. */
  engine?: 'tfjs';
  /** tfjs backend: 'auto' (tfjs-node if installed, else wasm), 'tensorflow', 'wasm', 'cpu'. */
  backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu';
  /** The pure-JS cpu backend must be asked for explicitly (about 100x slower). */
  allowCpu?: boolean;
  logger?: Logger;
}

/** Create a training engine (initialises its backend). Call once per thread. */
export async function createEngine(opts: CreateEngineOptions = {}): Promise<Engine> {
  const { TfjsEngine } = await import('./tfjs/engine.ts');
  const init: { backend?: 'auto' | 'tensorflow' | 'wasm' | 'cpu'; allowCpu?: boolean; logger?: Logger } = {};
  if (opts.backend !== undefined) init.backend = opts.backend;
  if (opts.allowCpu !== undefined) init.allowCpu = opts.allowCpu;
  if (opts.logger !== undefined) init.logger = opts.logger;
  return TfjsEngine.create(init);
}
