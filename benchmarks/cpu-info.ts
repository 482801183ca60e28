/**
 * The CPU a benchmark ran on: model name and the vector extensions that decide which kernels
 * ONNX Runtime's MLAS and PyTorch dispatch (x86: avx512f, avx2, fma; arm64: asimd, i.e. NEON),
 * read from /proc/cpuinfo. Results of this kind of machine differ with them, so every training
 * benchmark prints them.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

/** The extensions reported, in this order, when the CPU has them. */
export const VECTOR_EXTENSIONS = ['avx512f', 'avx512bw', 'avx512_vnni', 'avx2', 'fma', 'avx', 'sse4_2', 'asimd', 'neon', 'sve'] as const;

export interface CpuInfo {
  readonly model: string;
  readonly cores: number;
  /** The VECTOR_EXTENSIONS this CPU has. */
  readonly vector: readonly string[];
  /** The widest x86 SIMD level MLAS uses here ('avx512', 'avx2', 'sse', ...) or 'neon' on arm64. */
  readonly simd: string;
}

/** Parses /proc/cpuinfo text (first processor's flags / Features line). */
export function parseCpuInfo(text: string, fallbackModel = 'unknown CPU', cores = 1): CpuInfo {
  const field = (name: RegExp): string | null => {
    for (const line of text.split('\n')) {
      const m = /^([^:]+?)\s*:\s*(.*)$/.exec(line);
      if (m !== null && name.test(m[1]!)) return m[2]!.trim();
    }
    return null;
  };
  const flags = new Set((field(/^(flags|Features)$/) ?? '').split(/\s+/).filter((f) => f !== ''));
  const vector = VECTOR_EXTENSIONS.filter((f) => flags.has(f));
  const simd = flags.has('avx512f') ? 'avx512' : flags.has('avx2') ? 'avx2' : flags.has('asimd') || flags.has('neon') ? 'neon' : flags.has('avx') ? 'avx' : flags.size > 0 ? 'sse' : 'unknown';
  const model = field(/^(model name|Model|Hardware)$/) ?? fallbackModel;
  return { model, cores, vector, simd };
}

export function cpuInfo(): CpuInfo {
  let text = '';
  try {
    text = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    // not Linux: the model from os.cpus(), no extensions
  }
  return parseCpuInfo(text, cpus()[0]?.model ?? 'unknown CPU', cpus().length);
}

/** e.g. "AMD EPYC 9B14, 2 cores, avx512f avx2 fma (MLAS avx512)". */
export function cpuLine(c: CpuInfo): string {
  return `${c.model}, ${c.cores} core${c.cores === 1 ? '' : 's'}, ${c.vector.join(' ') || 'no vector extensions listed'} (SIMD level ${c.simd})`;
}
