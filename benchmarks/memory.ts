/**
 * `npm run bench:memory`: peak RSS of a compiled agent (dist/, plain node: `npm run build` first)
 * training ResNet-8 on a full Fashion-MNIST shard (2,600 training images, about one of 20
 * clients' shards) through a one-agent fleet on the embedded broker, and where that memory goes.
 *
 * A preload samples the agent process every 20 ms: RSS, the V8 heap (used and reserved), V8's
 * external memory and array buffers (the data set copies, weights, ORT tensors' JS side), and at
 * its largest RSS the rest (native: ONNX Runtime's arenas and sessions, glibc's heaps, code),
 * plus the peak (VmHWM) at exit. Variants change one thing each: the data-parallel training
 * threads, glibc's arena count (MALLOC_ARENA_MAX) and the V8 young generation. Training speed is
 * the agent's own training time per round (its telemetry), so a variant that saves memory by
 * training slower shows it.
 *
 *   npm run bench:memory -- [--samples 2600] [--rounds 2] [--variants default,train2,...]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { markdownTable, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { loadRun } from '../report/load.ts';
import { cpuInfo, cpuLine } from './cpu-info.ts';

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '2600' },
    rounds: { type: 'string', default: '2' },
    variants: { type: 'string' },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});

interface Variant {
  readonly name: string;
  readonly what: string;
  readonly fleetArgs: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

const VARIANTS: readonly Variant[] = [
  { name: 'default', what: 'as shipped: 1 training thread', fleetArgs: [], env: {} },
  { name: 'train2', what: '--train-threads 2 (data-parallel over 2 workers)', fleetArgs: ['--train-threads', '2'], env: {} },
  { name: 'arena2', what: 'MALLOC_ARENA_MAX=2 (glibc heaps shared by threads)', fleetArgs: [], env: { MALLOC_ARENA_MAX: '2' } },
  { name: 'train2-arena2', what: '--train-threads 2 and MALLOC_ARENA_MAX=2', fleetArgs: ['--train-threads', '2'], env: { MALLOC_ARENA_MAX: '2' } },
];

// Sampled in the agent process (argv[2] === 'agent'); one JSON line appended to TP_MEM_LOG at exit.
const PRELOAD_SRC = `
import { appendFileSync, readFileSync } from 'node:fs';
if (process.argv[2] === 'agent' && process.env.TP_MEM_LOG) {
  const peak = { rss: 0, heapUsed: 0, heapTotal: 0, external: 0, arrayBuffers: 0, rssAnon: 0, rssFile: 0, threads: 0 };
  let atPeak = null;
  const status = () => {
    const t = readFileSync('/proc/self/status', 'utf8');
    const kb = (k) => { const m = new RegExp(k + ':[ \t]+([0-9]+) kB').exec(t); return m ? Number(m[1]) * 1024 : 0; };
    return { rssAnon: kb('RssAnon'), rssFile: kb('RssFile'), threads: Number((/Threads:\\s+(\\d+)/.exec(t) ?? [0, 0])[1]) };
  };
  const sample = () => {
    const m = { ...process.memoryUsage(), ...status() };
    for (const k of Object.keys(peak)) peak[k] = Math.max(peak[k], m[k]);
    if (atPeak === null || m.rss >= atPeak.rss) atPeak = m;
  };
  setInterval(sample, 25).unref();
  process.on('exit', () => {
    sample();
    const hwm = /VmHWM:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    appendFileSync(process.env.TP_MEM_LOG, JSON.stringify({ peak, atPeak, hwmBytes: hwm ? Number(hwm[1]) * 1024 : null }) + '\\n');
  });
}
`;
const PRELOAD = `data:text/javascript,${encodeURIComponent(PRELOAD_SRC)}`;

interface MemRecord {
  readonly peak: Record<string, number>;
  readonly atPeak: Record<string, number>;
  readonly hwmBytes: number | null;
}

interface Result {
  readonly variant: string;
  readonly what: string;
  readonly peakRssMB: number;
  readonly atPeak: { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number; native: number; rssAnon: number; rssFile: number; threads: number };
  readonly trainSecondsPerRound: number;
  readonly imagesPerSecond: number;
  readonly rounds: number;
}

const MB = 2 ** 20;

function runVariant(v: Variant, samples: number, rounds: number): Result {
  const dir = mkdtempSync(join(tmpdir(), 'tp-memory-'));
  try {
    const log = join(dir, 'mem.jsonl');
    const env = { ...process.env, ...v.env, TP_MEM_LOG: log, NODE_OPTIONS: `--import=${PRELOAD}` };
    const args = ['dist/cli/main.js', 'fleet', '--agents', '1', '--rounds', String(rounds), '--samples-per-client', String(samples), '--engine', 'ort', '--families', 'resnet8', '--dir', join(dir, 'fleet'), ...v.fleetArgs];
    const r = spawnSync(process.execPath, args, { env, encoding: 'utf8', timeout: 900_000 });
    if (r.status !== 0) throw new Error(`${v.name}: fleet exited ${r.status}: ${(r.stderr ?? '').slice(-600)}`);
    const recs = readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as MemRecord);
    const rec = recs.reduce((a, b) => ((b.hwmBytes ?? 0) > (a.hwmBytes ?? 0) ? b : a));
    const at = rec.atPeak;
    let trainSeconds = 0;
    let n = 0;
    let images = 0;
    for (const run of loadRun(join(dir, 'fleet', 'aggregator.db'))) {
      for (const t of run.telemetry) {
        trainSeconds += t.phases.train;
        n++;
      }
    }
    images = samples * n; // one local epoch per round over the shard's training samples
    const heapTotal = at['heapTotal']!;
    const external = at['external']!;
    return {
      variant: v.name,
      what: v.what,
      peakRssMB: (rec.hwmBytes ?? rec.peak['rss']!) / MB,
      atPeak: { rss: at['rss']!, heapUsed: at['heapUsed']!, heapTotal, external, arrayBuffers: at['arrayBuffers']!, native: at['rss']! - heapTotal - external, rssAnon: at['rssAnon']!, rssFile: at['rssFile']!, threads: rec.peak['threads']! },
      trainSecondsPerRound: trainSeconds / Math.max(1, n),
      imagesPerSecond: trainSeconds > 0 ? images / trainSeconds : 0,
      rounds: n,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(): void {
  if (!existsSync('dist/cli/main.js')) {
    process.stderr.write('bench:memory: run `npm run build` first\n');
    process.exit(2);
  }
  const samples = Number(values.samples);
  const rounds = Number(values.rounds);
  const names = values.variants?.split(',') ?? VARIANTS.map((v) => v.name);
  const cpu = cpuInfo();
  const results: Result[] = [];
  for (const name of names) {
    const v = VARIANTS.find((x) => x.name === name);
    if (v === undefined) throw new Error(`unknown variant ${name}; known: ${VARIANTS.map((x) => x.name).join(', ')}`);
    const r = runVariant(v, samples, rounds);
    results.push(r);
    process.stderr.write(`bench:memory ${name}: peak ${r.peakRssMB.toFixed(0)} MB, ${r.imagesPerSecond.toFixed(0)} img/s\n`);
  }
  const f = (b: number): string => (b / MB).toFixed(0);
  const header = ['variant', 'peak RSS MB', 'at peak: file-backed (code) MB', 'anonymous MB', 'V8 heap used / reserved MB', 'external MB (array buffers)', 'native rest MB (ORT, glibc)', 'threads', 'train s / round', 'train img/s'];
  const rows = results.map((r) => [
    `${r.variant}: ${r.what}`,
    r.peakRssMB.toFixed(0),
    f(r.atPeak.rssFile),
    f(r.atPeak.rssAnon),
    `${f(r.atPeak.heapUsed)} / ${f(r.atPeak.heapTotal)}`,
    `${f(r.atPeak.external)} (${f(r.atPeak.arrayBuffers)})`,
    f(r.atPeak.native - r.atPeak.rssFile),
    String(r.atPeak.threads),
    r.trainSecondsPerRound.toFixed(1),
    r.imagesPerSecond.toFixed(0),
  ]);
  const note = `A compiled agent (\`tinyproto fleet --agents 1\`, plain node, ResNet-8, ORT, ${samples} training samples, ${rounds} rounds of one local epoch, batch 32, embedded broker, SQLite); peak RSS = the agent process's VmHWM; the breakdown is process.memoryUsage() at its largest sampled RSS. CPU: ${cpuLine(cpu)}; Node ${process.version}. \`npm run build && npm run bench:memory\``;
  process.stdout.write(textTable(header, rows) + '\n\n' + note + '\n');
  const json = { benchmark: 'memory', date: new Date().toISOString(), cpu: cpu.model, cores: cpu.cores, vectorExtensions: cpu.vector, node: process.version, samples, rounds, results };
  const updated = writeBenchmarkResults(values.out!, 'memory', 'bench:memory', `${markdownTable(header, rows)}\n\n${note}`, json);
  process.stderr.write(`bench:memory: results in ${values.out}/memory.json${updated ? ' and README.md' : ''}\n`);
}

main();
