/**
 * Where a training step's time goes, by ONNX node: runs `--steps` training steps of one model
 * (the engine's fused SGD graph, one session, one thread) on random data with onnxruntime's
 * profiler on, and prints the kernels' time by operator type and the slowest nodes, from the
 * profile onnxruntime writes. Under `valgrind --tool=callgrind` (which does not implement
 * AVX-512, so MLAS dispatches its AVX2 kernels) the same run shows the AVX2 path.
 *
 *   tsx benchmarks/train-profile.ts [--family resnet8] [--input 28x28x1] [--batch 32] [--steps 5] [--top 15]
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isFamily } from '../models/index.ts';
import { buildTrainGraph, contrastFeeds, nextName } from '../models/ort/graphs.ts';
import { createSession, loadOrt, type OrtTensor } from '../models/ort/runtime.ts';
import { initValues } from '../models/init.ts';
import { contrastInputs } from '../models/contrast.ts';
import { clipLimit } from '../models/train-args.ts';
import { Rng } from '../common/rng.ts';
import { TinyProtoError } from '../common/errors.ts';
import { textTable } from '../common/table.ts';
import { cpuInfo, cpuLine } from './cpu-info.ts';

const { values } = parseArgs({
  options: {
    family: { type: 'string', default: 'resnet8' },
    input: { type: 'string', default: '28x28x1' },
    batch: { type: 'string', default: '32' },
    steps: { type: 'string', default: '5' },
    top: { type: 'string', default: '15' },
    json: { type: 'boolean', default: false },
  },
});

interface ProfileEvent {
  readonly cat: string;
  readonly name: string;
  readonly dur: number;
  readonly args?: { readonly op_name?: string };
}

async function main(): Promise<void> {
  const family = values.family!;
  if (!isFamily(family)) throw new TinyProtoError('E_CONFIG', `unknown family ${family}`);
  const [h, w, c] = values.input!.split('x').map(Number) as [number, number, number];
  const B = Number(values.batch);
  const steps = Number(values.steps);
  const K = 10;
  const d = 500;
  const spec = { family, inputShape: [h, w, c] as [number, number, number], featureDim: d, numClasses: K, seed: 1 };
  const built = buildTrainGraph(spec, 'sgd');
  const ort = await loadOrt();
  const dir = mkdtempSync(join(tmpdir(), 'tp-profile-'));
  try {
    const session = await createSession(ort, built.bytes, { threads: 1, provider: 'cpu', profileFilePrefix: join(dir, 'train') });
    const rng = new Rng(3);
    const t = (data: Float32Array, dims: number[]): OrtTensor => new ort.Tensor('float32', data, dims);
    const onehot = new Float32Array(B * K);
    for (let i = 0; i < B; i++) onehot[i * K + (i % K)] = 1;
    const feeds: Record<string, OrtTensor> = {
      x: t(Float32Array.from({ length: B * h * w * c }, () => rng.normal()), [B, h, w, c]),
      onehot: t(onehot, [B, K]),
      protoTarget: t(Float32Array.from({ length: B * d }, () => rng.normal() * 0.1), [B, d]),
      protoWeight: t(new Float32Array(B).fill(1), [B, 1]),
      lambda: t(new Float32Array([10]), []),
      lr: t(new Float32Array([0.01]), []),
      clipNorm: t(Float32Array.of(clipLimit(undefined)), []), // no clipping: the plain step
    };
    // no prototype contrast (gamma 0)
    for (const f of contrastFeeds(contrastInputs(K, d, undefined), K, d)) feeds[f.name] = t(f.values, f.dims);
    for (const p of built.params) feeds[p.name] = t(initValues(1, p.name, p.shape.reduce((a, b) => a * b, 1), p.init), [...p.shape]);
    const fetches: Record<string, OrtTensor> = { loss: t(new Float32Array(3), [3]) };
    for (const p of built.params) fetches[nextName(p.name)] = t(new Float32Array(p.shape.reduce((a, b) => a * b, 1)), [...p.shape]);
    const t0 = performance.now();
    for (let i = 0; i < steps; i++) await session.run(feeds, fetches);
    const seconds = (performance.now() - t0) / 1000;
    session.endProfiling(); // writes dir/train_<date>.json
    const file = readdirSync(dir).find((f) => f.startsWith('train') && f.endsWith('.json'));
    if (file === undefined) throw new TinyProtoError('E_BACKEND', 'onnxruntime wrote no profile');
    const events = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ProfileEvent[];
    const byOp = new Map<string, number>();
    const byNode = new Map<string, { op: string; us: number }>();
    let total = 0;
    for (const e of events) {
      if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
      const op = e.args?.op_name ?? '?';
      const node = e.name.slice(0, -'_kernel_time'.length);
      byOp.set(op, (byOp.get(op) ?? 0) + e.dur);
      const n = byNode.get(node) ?? { op, us: 0 };
      n.us += e.dur;
      byNode.set(node, n);
      total += e.dur;
    }
    const pct = (us: number): string => `${((100 * us) / total).toFixed(1)}%`;
    const ops = [...byOp].sort((a, b) => b[1] - a[1]);
    const nodes = [...byNode].sort((a, b) => b[1].us - a[1].us).slice(0, Number(values.top));
    const out = {
      cpu: cpuInfo(),
      family,
      input: values.input,
      batch: B,
      steps,
      imagesPerSecond: (B * steps) / seconds,
      kernelMsPerStep: total / 1000 / steps,
      byOp: Object.fromEntries(ops.map(([op, us]) => [op, us / steps])),
      topNodes: nodes.map(([name, n]) => ({ name, op: n.op, usPerStep: n.us / steps })),
    };
    if (values.json) {
      process.stdout.write(JSON.stringify(out) + '\n');
      return;
    }
    process.stdout.write(`${family} ${values.input} batch ${B}, ${steps} steps, ${out.imagesPerSecond.toFixed(0)} img/s, kernels ${out.kernelMsPerStep.toFixed(1)} ms/step; CPU ${cpuLine(out.cpu)}\n\n`);
    process.stdout.write(textTable(['op type', 'ms / step', 'share'], ops.map(([op, us]) => [op, (us / 1000 / steps).toFixed(2), pct(us)])) + '\n\n');
    process.stdout.write(textTable(['node', 'op', 'ms / step', 'share'], nodes.map(([name, n]) => [name, n.op, (n.us / 1000 / steps).toFixed(2), pct(n.us)])) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`train-profile failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exitCode = 1;
});
