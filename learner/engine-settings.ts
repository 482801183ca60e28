/**
 * Which training engine a process uses, and each engine's own knobs: shared by the simulation's
 * and the agent's configs (and the fleet, which passes them to its agents) and validated here
 * once, so `tinyproto simulate`, `agent` and `fleet` accept and reject the same values.
 */
import { fail, int, oneOf } from '../common/validate.ts';
import type { Logger } from '../common/logger.ts';
import {
  ENGINE_CHOICES,
  type CreateEngineOptions,
  type Engine,
  type EngineChoice,
  type OrtProviderChoice,
  type TfjsBackendChoice,
} from '../models/index.ts';

export type { EngineChoice, OrtProviderChoice, TfjsBackendChoice };

export const TFJS_BACKEND_CHOICES: readonly TfjsBackendChoice[] = Object.freeze(['auto', 'tensorflow', 'wasm', 'cpu'] as const);
export const ORT_PROVIDER_CHOICES: readonly OrtProviderChoice[] = Object.freeze(['auto', 'cpu', 'cuda'] as const);
/** Upper bound of `threads` (a typo guard, not a tuning limit). */
export const MAX_ENGINE_THREADS = 1024;

/** One-line help of the engine choice, the same in every command. */
export const ENGINE_HELP = 'auto (default) = ort: ONNX Runtime; tfjs = TensorFlow.js (tfjs-node when installed, else wasm)';

export interface EngineSettings {
  /** 'auto' (= 'ort', ONNX Runtime) or 'tfjs' (TensorFlow.js). */
  readonly engine: EngineChoice;
  /** tfjs only: 'auto' picks tfjs-node when installed, else wasm. Ignored by ort. */
  readonly backend: TfjsBackendChoice;
  /** tfjs only: the pure-JS cpu backend must be asked for explicitly. */
  readonly allowCpu: boolean;
  /** ort only: intra-op threads per session; 0 = automatic (see the config that holds it). Ignored by tfjs. */
  readonly threads: number;
  /** ort only: execution provider; 'auto' = CUDA when available, else CPU. Ignored by tfjs. */
  readonly provider: OrtProviderChoice;
  /**
   * ort only: worker threads each batch is split over (data-parallel training with per-part
   * batch norm, models/ort/parallel.ts), each running a session of `threads` intra-op threads;
   * 0 or absent = auto (AUTO_TRAIN_THREADS). Ignored by tfjs.
   */
  readonly trainThreads?: number;
}

/**
 * Validates the engine fields of a config (E_CONFIG errors naming the field).
 * `allowCpuHint` says how to allow the cpu backend in that config ("pass --allow-cpu", ...).
 */
export function validateEngineSettings(c: EngineSettings, allowCpuHint: string): void {
  if (typeof c.engine !== 'string' || !(ENGINE_CHOICES as readonly string[]).includes(c.engine)) {
    fail('engine', `must be one of ${ENGINE_CHOICES.join(', ')} (${ENGINE_HELP})`, c.engine);
  }
  if (typeof c.backend !== 'string' || !(TFJS_BACKEND_CHOICES as readonly string[]).includes(c.backend)) {
    fail('backend', `must be one of ${TFJS_BACKEND_CHOICES.join(', ')} (the TensorFlow.js backend, used with engine tfjs)`, c.backend);
  }
  if (typeof c.allowCpu !== 'boolean') fail('allowCpu', 'must be true or false', c.allowCpu);
  if (c.backend === 'cpu' && !c.allowCpu) fail('backend', `the pure-JS cpu backend trains at under 1 image/s; ${allowCpuHint} to use it anyway`, c.backend);
  int('threads', c.threads, 0, MAX_ENGINE_THREADS);
  if (c.trainThreads !== undefined) int('trainThreads', c.trainThreads, 0, MAX_ENGINE_THREADS);
  oneOf('provider', c.provider, ORT_PROVIDER_CHOICES);
}

/**
 * ONNX Runtime intra-op threads when none are asked for (threads 0 = auto): one. Measured with
 * `npm run bench:train` on 2 cores, onnxruntime's intra-op parallelism did not speed up these
 * small training graphs (one thread trained as fast as two for ResNet-8 and EfficientNet-lite and
 * up to 1.5x faster for ShuffleNetV2), so each engine takes one core and N agents or simulation
 * workers share the machine. `--threads N` overrides it.
 */
export const AUTO_ORT_THREADS = 1;

/** The intra-op threads an engine gets: `threads` when set (> 0), else AUTO_ORT_THREADS. */
export function threadsPerEngine(threads: number): number {
  return threads > 0 ? threads : AUTO_ORT_THREADS;
}

/**
 * Training worker threads when none are asked for (trainThreads 0 = auto): one. Measured on this
 * project's 2-vCPU machine (README, "Every core"), two data-parallel workers trained ResNet-8 at
 * batch 32 at 0.8-0.9x one session in one quiet run and 0.57-1.9x in loaded ones: synchronous
 * data-parallel steps wait for the slower part, so a second core that is not free costs more than
 * it gives. On a board with N cores free for training, `--train-threads N` uses them.
 */
export const AUTO_TRAIN_THREADS = 1;

/** The training worker threads an engine gets: `trainThreads` when set (> 0), else AUTO_TRAIN_THREADS. */
export function trainThreadsPerEngine(trainThreads: number | undefined): number {
  return trainThreads !== undefined && trainThreads > 0 ? trainThreads : AUTO_TRAIN_THREADS;
}

/** `createEngine` options for these settings (threads and trainThreads 0 = auto: AUTO_ORT_THREADS, AUTO_TRAIN_THREADS). */
export function engineOptions(s: EngineSettings, logger?: Logger): CreateEngineOptions {
  return {
    engine: s.engine,
    backend: s.backend,
    allowCpu: s.allowCpu,
    provider: s.provider,
    threads: threadsPerEngine(s.threads),
    trainThreads: trainThreadsPerEngine(s.trainThreads),
    ...(logger !== undefined ? { logger } : {}),
  };
}

/** How logs and status lines name a running engine: engine/backend, e.g. 'ort/cpu', 'tfjs/wasm'. */
export function engineLabel(e: Pick<Engine, 'name' | 'backend'>): string {
  return `${e.name}/${e.backend}`;
}
