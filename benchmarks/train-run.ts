/**
 * One measurement of `npm run bench:train`, in its own process so that its peak RSS is its own:
 * trains (trainEpoch, the agent's real path: lambda = 10 with prototypes for every class) or
 * runs inference (embed) on random data for about `--seconds` after one warm-up pass, and prints
 * one JSON line.
 *
 *   tsx benchmarks/train-run.ts --engine ort|tfjs --family resnet8 --input 28x28x1 --batch 64
 *                               --mode train|infer [--seconds 6] [--threads 0] [--train-threads 1]
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { createEngine, isFamily, type EngineChoice, type Family } from '../models/index.ts';
import { Rng } from '../common/rng.ts';
import { TinyProtoError } from '../common/errors.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

const { values } = parseArgs({
  options: {
    engine: { type: 'string', default: 'ort' },
    family: { type: 'string', default: 'resnet8' },
    input: { type: 'string', default: '28x28x1' },
    batch: { type: 'string', default: '64' },
    mode: { type: 'string', default: 'train' },
    seconds: { type: 'string', default: '6' },
    threads: { type: 'string', default: '0' },
    'train-threads': { type: 'string', default: '1' },
  },
});

/** Peak resident set size of this process (VmHWM), in bytes. */
export function peakRssBytes(): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
  return m === null ? process.resourceUsage().maxRSS * 1024 : Number(m[1]) * 1024;
}

async function main(): Promise<void> {
  const family = values.family!;
  if (!isFamily(family)) throw new TinyProtoError('E_CONFIG', `unknown family ${family}`);
  const dims = values.input!.split('x').map(Number);
  if (dims.length !== 3 || dims.some((v) => !Number.isInteger(v) || v < 1)) throw new TinyProtoError('E_CONFIG', `--input must be HxWxC, got ${values.input}`);
  const [h, w, c] = dims as [number, number, number];
  const batch = Number(values.batch);
  const seconds = Number(values.seconds);
  const mode = values.mode === 'infer' ? 'infer' : 'train';
  const threads = Number(values.threads);
  // threads 0: onnxruntime's own default (one per core); the engine's default would be 1
  const trainThreads = Number(values['train-threads']);
  const engine = await createEngine({ engine: values.engine as EngineChoice, backend: 'auto', threads, trainThreads });
  const K = SETUP_DEFAULTS.numClasses;
  const d = SETUP_DEFAULTS.featureDim;
  const model = engine.createModel({ family: family as Family, inputShape: [h, w, c], featureDim: d, numClasses: K, seed: 1 });
  const n = batch * 4;
  const rng = new Rng(7);
  const x = new Float32Array(n * h * w * c);
  for (let i = 0; i < x.length; i++) x[i] = rng.normal();
  const y = Int32Array.from({ length: n }, (_, i) => i % K);
  const protos = new Float32Array(K * d);
  for (let i = 0; i < protos.length; i++) protos[i] = rng.normal() * 0.1;
  const opts = { batchSize: batch, lr: SETUP_DEFAULTS.lr, lambda: SETUP_DEFAULTS.lambda, globalPrototypes: protos, hasGlobal: new Uint8Array(K).fill(1), shuffleSeed: 1 };
  const step = async (): Promise<number> => {
    if (mode === 'train') return (await model.trainEpoch(x, y, opts)).samples;
    await model.embed(x, n, batch);
    return n;
  };
  await step(); // warm-up: session creation, first allocations
  let images = 0;
  const cpu0 = process.cpuUsage(); // this process, every thread (the training workers too)
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) images += await step();
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const ortVersion = engine.name === 'ort' ? await (await import('../models/ort/runtime.ts')).ortVersion() : undefined;
  const out = {
    engine: engine.name,
    ortVersion,
    backend: engine.backend,
    family,
    input: values.input,
    batch,
    mode,
    threads,
    trainThreads,
    imagesPerSecond: images / elapsed,
    // CPU time per image: what the work costs whatever else runs on the machine
    cpuMsPerImage: (cpu.user + cpu.system) / 1000 / images,
    images,
    seconds: elapsed,
    peakRssBytes: peakRssBytes(),
    params: model.paramCount,
    mflopsPerImage: model.flopsPerImage / 1e6,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
  model.dispose();
  await (engine as { close?: () => Promise<void> }).close?.();
}

main().catch((e: unknown) => {
  process.stdout.write(JSON.stringify({ error: (e as Error).message }) + '\n');
  process.exitCode = 1;
});
