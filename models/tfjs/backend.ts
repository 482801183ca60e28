/**
 * TensorFlow.js backend selection for training.
 *
 * - 'tensorflow' (@tensorflow/tfjs-node, native libtensorflow): fastest; an optional dependency
 *   whose installer downloads libtensorflow, so it is often absent.
 * - 'wasm' (@tensorflow/tfjs-backend-wasm): always available; single-threaded in Node. Three
 *   gradient kernels it lacks are registered from ./wasm-grad-kernels.ts.
 * - 'cpu' (@tensorflow/tfjs-backend-cpu): pure JS, about 100x slower to train; only on request.
 *
 * Gradients: the CommonJS build of @tensorflow/tfjs-core that Node loads registers no gradient
 * functions (the `@tensorflow/tfjs` union package and tfjs-node normally do it). When none are
 * registered, `initTfjs` loads tfjs-core's own gradient modules (its ES-module `dist/` files)
 * through a small module-resolution hook; they share tfjs-core's process-global engine and
 * registries, so `tf.grads` / `tf.variableGrads` then work on any backend. Chained tensor
 * methods (`t.add(u)`) are not registered either: call the functional ops (`tf.add(t, u)`).
 *
 * Each worker_thread has its own tfjs instance: call `initTfjs` in every worker.
 */
import * as tf from '@tensorflow/tfjs-core';
import { TinyProtoError } from '../../common/errors.ts';
import { silentLogger, type Logger } from '../../common/logger.ts';
import { registerWasmGradKernels } from './wasm-grad-kernels.ts';

export type TfjsBackendChoice = 'auto' | 'tensorflow' | 'wasm' | 'cpu';
export type TfjsBackendName = 'tensorflow' | 'wasm' | 'cpu';

export interface TfjsInitOptions {
  /** Default 'auto': tfjs-node if it loads, else wasm. Never cpu unless asked for. */
  backend?: TfjsBackendChoice;
  /** Required to use the pure-JS cpu backend. */
  allowCpu?: boolean;
  logger?: Logger;
}

export interface TfjsHandle {
  tf: typeof tf;
  backend: TfjsBackendName;
}

export interface TfjsMemory {
  /** Active backend, or null before any was initialised. */
  backend: string | null;
  numTensors: number;
  numDataBuffers: number;
  numBytes: number;
  /** Size of the wasm module's linear memory (it only grows), when the wasm backend exists. */
  wasmHeapBytes?: number;
}

const TFJS_NODE = '@tensorflow/tfjs-node';

export const TFJS_NODE_INSTALL_HINT =
  `install ${TFJS_NODE}@${tf.version_core} (npm install ${TFJS_NODE}@${tf.version_core}); its install ` +
  'script downloads libtensorflow (linux x64, arm64, armv7), so on a machine without internet ' +
  'access point it at a mirror of the archive with TFJS_NODE_BASE_URI (or TFJS_NODE_CDN_STORAGE), ' +
  "or use backend 'wasm'";

// ---------------------------------------------------------------------------------------------
// tfjs-node

type NodeProbe = { ok: true } | { ok: false; reason: string; missing: boolean };
let nodeProbe: Promise<NodeProbe> | undefined;

function errText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Imports tfjs-node once per tfjs instance (thread); never throws. */
function probeTfjsNode(): Promise<NodeProbe> {
  nodeProbe ??= (async (): Promise<NodeProbe> => {
    try {
      const name: string = TFJS_NODE; // a variable: tsc must not need the package's types
      await import(name);
    } catch (e) {
      const code = (e as { code?: unknown } | null)?.code;
      const missing =
        (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && errText(e).includes(TFJS_NODE);
      return { ok: false, missing, reason: errText(e) };
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      return {
        ok: false,
        missing: false,
        reason:
          `${TFJS_NODE} loaded but backend 'tensorflow' is not registered with this ` +
          `@tensorflow/tfjs-core ${tf.version_core} (two copies of tfjs-core with different versions?)`,
      };
    }
    return { ok: true };
  })();
  return nodeProbe;
}

// ---------------------------------------------------------------------------------------------
// Gradients

/**
 * Resolution hook that lets Node load tfjs-core's ES-module `dist/*.js` files: they use
 * extension-less relative imports and sit in a package without "type": "module".
 */
const ESM_DIST_HOOKS = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const MARK = '/@tensorflow/tfjs-core/dist/';
const isDist = (url) => url.includes(MARK) && url.endsWith('.js') && !url.includes('/tf-core');
export async function resolve(specifier, context, next) {
  const parent = context.parentURL;
  if (parent !== undefined && parent.includes(MARK) && (specifier.startsWith('./') || specifier.startsWith('../')) && !specifier.endsWith('.js')) {
    for (const suffix of ['.js', '/index.js']) {
      const url = new URL(specifier + suffix, parent);
      if (existsSync(fileURLToPath(url))) return { url: url.href, format: 'module', shortCircuit: true };
    }
  }
  return next(specifier, context);
}
export async function load(url, context, next) {
  return isDist(url) ? next(url, { ...context, format: 'module' }) : next(url, context);
}
`;

let gradientsLoad: Promise<void> | undefined;

function gradientsRegistered(): boolean {
  return ['Conv2D', 'Sum', 'Multiply', 'Relu'].every((k) => tf.getGradient(k) !== undefined);
}

function ensureGradients(logger: Logger): Promise<void> {
  if (gradientsRegistered()) return Promise.resolve();
  gradientsLoad ??= (async () => {
    const t0 = performance.now();
    try {
      const { register } = await import('node:module');
      if (typeof register !== 'function') throw new TinyProtoError('E_BACKEND', 'node:module register() is missing (Node >= 20.6 needed)');
      register('data:text/javascript,' + encodeURIComponent(ESM_DIST_HOOKS));
      const entry: string = '@tensorflow/tfjs-core/dist/register_all_gradients.js';
      await import(entry);
    } catch (e) {
      gradientsLoad = undefined;
      throw new TinyProtoError(
        'E_BACKEND',
        `could not register the tfjs gradient functions (${errText(e)}); installing @tensorflow/tfjs@${tf.version_core} also provides them`,
      );
    }
    if (!gradientsRegistered()) {
      gradientsLoad = undefined;
      throw new TinyProtoError('E_BACKEND', 'tfjs gradient functions are still missing after loading them');
    }
    logger.debug('registered tfjs-core gradient functions', { ms: Math.round(performance.now() - t0) });
  })();
  return gradientsLoad;
}

// ---------------------------------------------------------------------------------------------
// Backends

async function activate(name: TfjsBackendName): Promise<void> {
  if (tf.getBackend() === name) return;
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (e) {
    throw new TinyProtoError('E_BACKEND', `tfjs backend '${name}' failed to initialise: ${errText(e)}`);
  }
  if (!ok) throw new TinyProtoError('E_BACKEND', `tfjs backend '${name}' failed to initialise`);
  await tf.ready();
}

async function initOnce(opts: TfjsInitOptions): Promise<TfjsHandle> {
  const choice = opts.backend ?? 'auto';
  const logger = opts.logger ?? silentLogger;
  if (!['auto', 'tensorflow', 'wasm', 'cpu'].includes(choice)) {
    throw new TinyProtoError('E_BACKEND', `unknown tfjs backend '${String(choice)}' (auto, tensorflow, wasm, cpu)`);
  }
  if (choice === 'cpu' && opts.allowCpu !== true) {
    throw new TinyProtoError(
      'E_CPU_BACKEND',
      "the pure-JS 'cpu' tfjs backend trains about 100x slower than 'wasm'; use 'wasm' or " +
        "'tensorflow', or pass allowCpu to use it anyway",
    );
  }

  let target: TfjsBackendName;
  if (choice === 'tensorflow' || choice === 'auto') {
    const probe = await probeTfjsNode();
    if (probe.ok) {
      target = 'tensorflow';
    } else if (choice === 'tensorflow') {
      throw new TinyProtoError(
        'E_BACKEND',
        probe.missing
          ? `backend 'tensorflow' needs ${TFJS_NODE}, which is not installed: ${TFJS_NODE_INSTALL_HINT}`
          : `backend 'tensorflow': ${TFJS_NODE} failed to load (${probe.reason}); ${TFJS_NODE_INSTALL_HINT}`,
        { reason: probe.reason },
      );
    } else {
      if (!probe.missing) logger.warn(`${TFJS_NODE} failed to load; using wasm`, { reason: probe.reason });
      target = 'wasm';
    }
  } else {
    target = choice;
  }

  if (target === 'wasm') {
    await import('@tensorflow/tfjs-backend-wasm');
    registerWasmGradKernels();
  } else if (target === 'cpu') {
    await import('@tensorflow/tfjs-backend-cpu');
    logger.warn("using the pure-JS 'cpu' tfjs backend: training will be about 100x slower than wasm");
  }
  await ensureGradients(logger);
  await activate(target);

  const actual = tf.getBackend();
  if (actual === 'cpu' && choice !== 'cpu') {
    throw new TinyProtoError('E_CPU_BACKEND', `tfjs fell back to the 'cpu' backend although '${choice}' was requested`);
  }
  if (actual !== target) {
    throw new TinyProtoError('E_BACKEND', `tfjs backend is '${actual}' after initialising '${target}'`);
  }
  logger.debug('tfjs ready', { backend: target, tfjsCore: tf.version_core });
  return { tf, backend: target };
}

let queue: Promise<unknown> = Promise.resolve();

/**
 * Initialises TensorFlow.js for training and returns it with the active backend. Safe to call
 * repeatedly (calls are serialised; a call for the backend already active is cheap) and in
 * every worker_thread. Throws TinyProtoError E_BACKEND / E_CPU_BACKEND.
 */
export function initTfjs(opts: TfjsInitOptions = {}): Promise<TfjsHandle> {
  const run = queue.then(() => initOnce(opts));
  queue = run.catch(() => undefined);
  return run;
}

/** Engine memory counters; never initialises a backend. */
export function tfjsMemory(): TfjsMemory {
  const backend = tf.getBackend() ?? null;
  const out: TfjsMemory =
    backend === null
      ? { backend, numTensors: 0, numDataBuffers: 0, numBytes: 0 }
      : (() => {
          const m = tf.memory();
          return { backend, numTensors: m.numTensors, numDataBuffers: m.numDataBuffers, numBytes: m.numBytes };
        })();
  // engine().registry holds initialised backends only (findBackend would initialise one).
  const wasm = tf.engine().registry['wasm'] as { wasm?: { HEAPU8?: Uint8Array } } | undefined;
  const heap = wasm?.wasm?.HEAPU8?.byteLength;
  if (heap !== undefined) out.wasmHeapBytes = heap;
  return out;
}
