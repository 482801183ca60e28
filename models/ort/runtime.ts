/**
 * onnxruntime-node, loaded lazily: session options (threads, execution provider) in one place.
 * This is the only file that imports onnxruntime-node.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { TinyProtoError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';

export type Ort = typeof import('onnxruntime-node');
export type OrtSession = import('onnxruntime-node').InferenceSession;
export type OrtTensor = import('onnxruntime-node').Tensor;
export type OrtProvider = 'cpu' | 'cuda';

let ortModule: Promise<Ort> | null = null;

export function loadOrt(): Promise<Ort> {
  ortModule ??= import('onnxruntime-node').catch((e: unknown) => {
    ortModule = null;
    throw new TinyProtoError('E_BACKEND', `onnxruntime-node could not be loaded (${(e as Error).message}); reinstall with npm ci, or use --engine tfjs`);
  });
  return ortModule;
}

/** The onnxruntime-node version, e.g. '1.30.0'. */
export async function ortVersion(): Promise<string> {
  return (await loadOrt()).env.versions.node ?? 'unknown';
}

/**
 * Whether onnxruntime-node's CUDA provider library is installed next to its binding (the npm
 * package ships only the CPU provider; the CUDA one arrives with its postinstall on machines
 * with CUDA, e.g. a Jetson).
 */
export function cudaProviderInstalled(): boolean {
  try {
    const req = createRequire(import.meta.url);
    const root = dirname(req.resolve('onnxruntime-node/package.json'));
    const arch = process.arch === 'arm64' ? 'arm64' : 'x64';
    return existsSync(join(root, 'bin', 'napi-v6', process.platform, arch, 'libonnxruntime_providers_cuda.so'));
  } catch {
    return false;
  }
}

export function resolveProvider(choice: 'auto' | 'cpu' | 'cuda', logger: Logger): OrtProvider {
  if (choice === 'cpu') return 'cpu';
  const cuda = cudaProviderInstalled();
  if (choice === 'cuda' && !cuda) {
    throw new TinyProtoError('E_BACKEND', "provider 'cuda' asked for, but onnxruntime-node's CUDA provider library is not installed (install onnxruntime-node without ONNXRUNTIME_NODE_INSTALL=skip on a CUDA machine)");
  }
  if (cuda) logger.info('onnxruntime: using the CUDA execution provider');
  return cuda ? 'cuda' : 'cpu';
}

export interface SessionSettings {
  /** Intra-op threads; 0 = onnxruntime's default (one per physical core). */
  readonly threads: number;
  readonly provider: OrtProvider;
  /** onnxruntime's own profiler: writes PREFIX_<date>.json (per-node timings) at endProfiling(). */
  readonly profileFilePrefix?: string;
}

export async function createSession(ort: Ort, bytes: Uint8Array, s: SessionSettings): Promise<OrtSession> {
  try {
    return await ort.InferenceSession.create(bytes, {
      executionProviders: s.provider === 'cuda' ? ['cuda', 'cpu'] : ['cpu'],
      intraOpNumThreads: s.threads,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      logSeverityLevel: 3,
      // The arena keeps freed activations for the next step. Without it, glibc's per-thread
      // heaps grew the process to 370-900 MB; with MALLOC_TRIM_THRESHOLD_ set as well the
      // process stayed at 130 MB but trained 7x slower. Memory patterns plan buffers for fixed shapes;
      // batches vary (last partial batch, eval), and without them peak RSS was 10-15% lower at
      // the same speed.
      enableCpuMemArena: true,
      enableMemPattern: false,
      ...(s.profileFilePrefix !== undefined ? { enableProfiling: true, profileFilePrefix: s.profileFilePrefix } : {}),
    });
  } catch (e) {
    throw new TinyProtoError('E_BACKEND', `onnxruntime could not load a tinyproto graph: ${(e as Error).message}`);
  }
}
