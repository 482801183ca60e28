/**
 * `npm run bench:parity`: the same TinyProto simulation (same seed, same data, same partition,
 * same initial weights) trained by the ONNX Runtime engine and by the TensorFlow.js engine; the
 * two should reach the same accuracy within about a point. Bit-identical curves are not expected:
 * float32 training is chaotic, and rounding differences of ~1e-7 between engines grow over
 * hundreds of SGD steps (see models/ort/cross-engine.test.ts).
 *
 * With `--plus` both engines run tinyproto-plus (method/experiment.ts TINYPROTO_PLUS: the masked
 * prototype loss, which the engines take as per-dimension weights, the masked evaluation and the
 * local scale) and the results go to parity-plus.{md,json} and the README block bench:parity-plus.
 *
 *   npm run bench:parity -- [--clients 10] [--rounds 10] [--samples-per-client 400] [--seed 1] [--plus]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { resolveSimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { markdownTable, pct, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { SETUP_DEFAULTS, TINYPROTO_PLUS } from '../method/experiment.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    rounds: { type: 'string', default: '10' },
    'samples-per-client': { type: 'string', default: '400' },
    seed: { type: 'string', default: String(SETUP_DEFAULTS.seed) },
    plus: { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});

const t0 = performance.now();
const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
const base = {
  method: 'tinyproto' as const,
  clients: Number(values.clients),
  rounds: Number(values.rounds),
  samplesPerClient: Number(values['samples-per-client']),
  seed: Number(values.seed),
  ...(values.plus ? TINYPROTO_PLUS : {}),
};
const label = values.plus ? 'tinyproto-plus (masked loss and evaluation, local scale)' : 'TinyProto';
const name = values.plus ? 'parity-plus' : 'parity';
const results: { engine: string; result: SimResult }[] = [];
for (const engine of ['ort', 'tfjs'] as const) {
  const cfg = resolveSimConfig({ ...base, engine, backend: 'auto' });
  const result = await simulate(cfg, {
    dataset: ds,
    onRound: (r) => process.stderr.write(`  ${engine} round ${r.round}/${base.rounds}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} (${r.seconds.toFixed(1)} s)\n`),
  });
  results.push({ engine: `${engine}/${result.models[0]?.backend ?? '?'}`, result });
}
const header = ['engine', 'best acc (head)', 'last acc (head)', 'best acc (proto)', 'last acc (proto)', 'time'];
const rows = results.map(({ engine, result }) => {
  const s = result.summary;
  return [engine, pct(s.best.accuracyHead), pct(s.last.accuracyHead), pct(s.best.accuracyPrototype), pct(s.last.accuracyPrototype), `${result.seconds.toFixed(0)} s`];
});
const [a, b] = results.map((r) => r.result.summary);
const diff = (x: number | null | undefined, y: number | null | undefined): string => (x == null || y == null ? 'n/a' : `${((x - y) * 100).toFixed(2)} points`);
const note =
  `_${label}, Fashion-MNIST, ${base.clients} clients, Dir(${SETUP_DEFAULTS.alpha}), ${base.rounds} rounds, at most ${base.samplesPerClient} samples per client, paper hyperparameters, seed ${base.seed}; ` +
  `ORT - tfjs: best head ${diff(a?.best.accuracyHead, b?.best.accuracyHead)}, last head ${diff(a?.last.accuracyHead, b?.last.accuracyHead)}, ` +
  `best proto ${diff(a?.best.accuracyPrototype, b?.best.accuracyPrototype)}, last proto ${diff(a?.last.accuracyPrototype, b?.last.accuracyPrototype)}. ` +
  `Measured ${new Date().toISOString().slice(0, 10)} on ${os.availableParallelism()} cores with \`npm run bench:parity${values.plus ? ' -- --plus' : ''}\`._`;
const md = `${markdownTable(header, rows)}\n\n${note}`;
console.log(`${textTable(header, rows)}\n\n${note}`);
const seconds = (performance.now() - t0) / 1000;
writeBenchmarkResults(values.out!, name, `bench:${name}`, md, {
  date: new Date().toISOString(),
  seconds,
  settings: base,
  runs: results.map(({ engine, result }) => ({ engine, summary: result.summary, rounds: result.rounds.map(({ clients: _c, ...r }) => r) })),
});
