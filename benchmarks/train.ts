/**
 * `npm run bench:train`: training and inference speed and peak memory of the training engines,
 * each backbone at 28x28x1 and 32x32x3, batch 32 and 64:
 *
 * - ort1: this project's ONNX Runtime engine (models/ort) on one core (one session, one thread);
 * - ortN: the same on every core, data-parallel (--train-threads = cores: each batch split over
 *   one worker thread per core, models/ort/parallel.ts); training only;
 * - ort: one session with onnxruntime's default intra-op threads (one per core);
 * - tfjs: the TensorFlow.js engine (tfjs-node when installed, else wasm, single-threaded);
 * - pytorch1 / pytorch: the same networks in PyTorch (benchmarks/train_torch.py) with one thread
 *   and with as many threads as there are cores (torch.set_num_threads), when Debian's
 *   python3-torch is installed (this benchmark installs nothing; it says when PyTorch is absent).
 *
 * The CPU's model and vector extensions (avx512f, avx2, fma, asimd) are printed with the results
 * and stored in the JSON: the engines' relative speed depends on them.
 *
 * Every measurement runs in its own process (peak RSS = that process's VmHWM / ru_maxrss): the
 * engine's real trainEpoch / embed path on random data, the same loss (CE + 10 x prototype MSE),
 * plain SGD lr 0.01, after one warm-up pass. Finally a real agent (`tinyproto fleet`, one
 * ResNet-8 agent on the embedded broker, paper batch 32) reports its peak RSS per round through
 * its telemetry.
 *
 * Writes benchmarks/results/train.json and train.md and refreshes the README block.
 *
 *   npm run bench:train -- [--seconds 3] [--engines ort,tfjs,pytorch] [--families a,b]
 *                          [--inputs 28x28x1,32x32x3] [--batches 32,64] [--no-agent]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { FAMILIES } from '../models/zoo-info.ts';
import { markdownTable, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { loadRun } from '../report/load.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';
import { cpuInfo, cpuLine } from './cpu-info.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '3' },
    engines: { type: 'string', default: 'ort1,ortN,ort,tfjs,pytorch1,pytorch' },
    families: { type: 'string', default: FAMILIES.join(',') },
    inputs: { type: 'string', default: '28x28x1,32x32x3' },
    batches: { type: 'string', default: '32,64' },
    modes: { type: 'string', default: 'train,infer' },
    'no-agent': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});

interface Measurement {
  readonly engine: string;
  readonly family: string;
  readonly input: string;
  readonly batch: number;
  readonly mode: string;
  readonly imagesPerSecond: number | null;
  readonly peakRssBytes: number | null;
  readonly error?: string;
  readonly detail?: Record<string, unknown>;
}

const seconds = Number(values.seconds);
const engines = values.engines!.split(',');
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function lastJsonLine(text: string): Record<string, unknown> | null {
  const lines = text.trim().split('\n').filter((l) => l.startsWith('{'));
  const last = lines[lines.length - 1];
  if (last === undefined) return null;
  try {
    return JSON.parse(last) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function torchStatus(): { ok: true; version: string } | { ok: false; reason: string } {
  const r = spawnSync(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { encoding: 'utf8' });
  if (r.status === 0) return { ok: true, version: r.stdout.trim() };
  return { ok: false, reason: `PyTorch is not installed for ${PYTHON} (Debian: apt-get install python3-torch); the PyTorch columns are empty` };
}

const CORES = cpus().length;

/** The command of one measurement: engine ort1 / ortN / ort / tfjs / pytorch1 / pytorch. */
function command(engine: string, family: string, input: string, batch: number, mode: string): string[] {
  const shape = ['--family', family, '--input', input, '--batch', String(batch), '--mode', mode, '--seconds', String(seconds)];
  if (engine === 'pytorch' || engine === 'pytorch1') return [PYTHON, 'benchmarks/train_torch.py', ...shape, '--threads', engine === 'pytorch1' ? '1' : String(CORES)];
  const run = [process.execPath, '--import', 'tsx', 'benchmarks/train-run.ts', ...shape];
  if (engine === 'ort1') return [...run, '--engine', 'ort', '--threads', '1', '--train-threads', '1'];
  if (engine === 'ortN') return [...run, '--engine', 'ort', '--threads', '1', '--train-threads', String(CORES)];
  if (engine === 'ort') return [...run, '--engine', 'ort', '--threads', '0', '--train-threads', '1'];
  return [...run, '--engine', engine];
}

function measure(engine: string, family: string, input: string, batch: number, mode: string): Measurement {
  const base = { engine, family, input, batch, mode };
  const args = command(engine, family, input, batch, mode);
  const r = spawnSync(args[0]!, args.slice(1), { encoding: 'utf8', timeout: (seconds * 4 + 120) * 1000 });
  const j = lastJsonLine(r.stdout ?? '');
  if (j === null || typeof j['imagesPerSecond'] !== 'number') {
    const error = String(j?.['error'] ?? (r.stderr ?? '').trim().split('\n').slice(-1)[0] ?? `exit ${r.status}`);
    return { ...base, imagesPerSecond: null, peakRssBytes: null, error };
  }
  return { ...base, imagesPerSecond: j['imagesPerSecond'] as number, peakRssBytes: (j['peakRssBytes'] as number) ?? null, detail: j };
}

/** A real agent: a one-agent ResNet-8 fleet on the embedded broker; peak RSS from its telemetry. */
function agentPeakRss(): { peakRssBytes: number; rounds: number; trainSeconds: number } | { error: string } {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-bench-agent-'));
  try {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', 'fleet', '--agents', '1', '--rounds', '3', '--dir', dir, '--samples-per-client', '2000', '--engine', 'ort'],
      { encoding: 'utf8', timeout: 900_000 },
    );
    if (r.status !== 0) return { error: (r.stderr ?? '').trim().split('\n').slice(-3).join(' ') };
    const runs = loadRun(join(dir, 'aggregator.db'));
    let peak = 0;
    let rounds = 0;
    let trainSeconds = 0;
    for (const run of runs) {
      for (const t of run.telemetry) {
        peak = Math.max(peak, t.memory.peakRssBytes);
        trainSeconds += t.phases.train;
        rounds++;
      }
    }
    return { peakRssBytes: peak, rounds, trainSeconds };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mb = (b: number | null): string => (b === null ? '–' : (b / 2 ** 20).toFixed(0));
const ips = (v: number | null): string => (v === null ? '–' : v >= 100 ? v.toFixed(0) : v.toFixed(1));
const ratio = (a: number | null, b: number | null): string => (a === null || b === null ? '–' : `${(a / b).toFixed(2)}x`);

async function main(): Promise<void> {
  const t0 = performance.now();
  const cpu = cpuInfo();
  process.stderr.write(`bench:train: CPU ${cpuLine(cpu)}\n`);
  const torch = engines.includes('pytorch') ? torchStatus() : { ok: false as const, reason: 'not requested' };
  if (!torch.ok && engines.includes('pytorch')) process.stderr.write(`bench:train: ${torch.reason}\n`);
  const results: Measurement[] = [];
  const rows: string[][] = [];
  for (const mode of values.modes!.split(',')) {
    for (const family of values.families!.split(',')) {
      for (const input of values.inputs!.split(',')) {
        for (const batch of values.batches!.split(',').map(Number)) {
          const m: Record<string, Measurement> = {};
          for (const engine of engines) {
            if (engine.startsWith('pytorch') && !torch.ok) continue;
            if (engine === 'ortN' && mode === 'infer') continue; // data-parallel is a training path
            const r = measure(engine, family, input, batch, mode);
            m[engine] = r;
            results.push(r);
            process.stderr.write(`${mode} ${family} ${input} b${batch} ${engine}: ${r.error ?? `${ips(r.imagesPerSecond)} img/s, ${mb(r.peakRssBytes)} MB`}\n`);
          }
          const v = (e: string): number | null => m[e]?.imagesPerSecond ?? null;
          const rss = (e: string): number | null => m[e]?.peakRssBytes ?? null;
          // all cores: the faster of data-parallel workers and one session's intra-op threads
          const allCores = (): number | null => Math.max(v('ortN') ?? 0, v('ort') ?? 0) || null;
          const best = (): number | null => Math.max(allCores() ?? 0, v('ort1') ?? 0) || null;
          rows.push([
            mode, family, input, String(batch),
            ips(v('ort1')), ips(v('pytorch1')), ratio(v('ort1'), v('pytorch1')),
            ips(v('ortN')), ips(v('ort')), ips(v('pytorch')), ratio(allCores(), v('pytorch')),
            ips(v('tfjs')), ratio(best(), v('tfjs')),
            mb(rss('ort1')), mb(rss('ortN')), mb(rss('pytorch')),
          ]);
        }
      }
    }
  }
  const agent = values['no-agent'] ? null : agentPeakRss();
  const N = CORES;
  const header = [
    'mode', 'family', 'input', 'batch',
    'ORT 1 core', 'PyTorch 1 thr', 'ORT / PyTorch (1 core)',
    `ORT ${N} workers`, `ORT ${N} intra-op thr`, `PyTorch ${N} thr`, `best ORT / PyTorch (${N} cores)`,
    'tfjs', 'best ORT / tfjs',
    'ORT 1 core MB', `ORT ${N} workers MB`, `PyTorch ${N} thr MB`,
  ];
  const tfjsBackend = results.find((r) => r.engine === 'tfjs' && r.detail !== undefined)?.detail?.['backend'] ?? 'n/a';
  const notes = [
    `CPU: ${cpuLine(cpu)}; Node ${process.version}; ${seconds} s per measurement after a warm-up pass, each in its own process; images/s; peak RSS of that process.`,
    `ORT: onnxruntime-node ${String(results.find((r) => r.engine.startsWith('ort') && r.detail !== undefined)?.detail?.['ortVersion'] ?? '')}: 1 core = one session, one thread; ${N} workers = data-parallel over ${N} worker threads (\`--train-threads ${N}\`, per-part batch norm, models/ort/parallel.ts), one thread each; ${N} intra-op thr = one session, onnxruntime's default threads. tfjs: backend ${String(tfjsBackend)}. PyTorch: ${torch.ok ? `${torch.version}, torch.set_num_threads(1) and (${N})` : torch.reason}.`,
    `Training = the engine's trainEpoch (CE + ${SETUP_DEFAULTS.lambda} x prototype MSE, plain SGD lr ${SETUP_DEFAULTS.lr}, batch-norm statistics updated); inference = embed (features and logits, eval mode).`,
  ];
  if (agent !== null) {
    notes.push(
      'error' in agent
        ? `Agent peak RSS: the one-agent fleet failed: ${agent.error}`
        : `A real agent (\`tinyproto fleet --agents 1\`: ResNet-8, ORT, batch 32, up to 2,000 samples, ${agent.rounds} rounds, ${agent.trainSeconds.toFixed(1)} s training in all, embedded broker, SQLite): peak RSS ${mb(agent.peakRssBytes)} MB.`,
    );
  }
  const md = [markdownTable(header, rows), '', ...notes.map((n) => `- ${n}`)].join('\n');
  process.stdout.write(textTable(header, rows) + '\n\n' + notes.join('\n') + '\n');
  const json = { benchmark: 'train', date: new Date().toISOString(), seconds, cores: CORES, cpu: cpu.model, vectorExtensions: cpu.vector, simd: cpu.simd, node: process.version, torch, results, agent, minutes: (performance.now() - t0) / 60000 };
  const updated = writeBenchmarkResults(values.out!, 'train', 'bench:train', md, json);
  process.stderr.write(`bench:train: ${((performance.now() - t0) / 60000).toFixed(1)} min; results in ${values.out}/train.json${updated ? ' and README.md' : ''}\n`);
}

void main().catch((e: unknown) => {
  process.stderr.write(`bench:train failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
