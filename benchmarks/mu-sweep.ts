/**
 * `npm run bench:mu`: how TinyProto's server scale mu affects accuracy on Fashion-MNIST.
 * mu is swept as mu = factor * K / (total training samples) — the paper's values are about
 * 0.65 / (training samples per class) — plus a fixed-mu column for reference.
 * Writes benchmarks/results/mu-sweep.json and mu-sweep.md and refreshes README.md.
 *
 *   npm run bench:mu -- [--factors 0.1,0.3,0.65,1,1.5] [--rounds R] [--samples-per-client M] [--clients N]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { resolveSimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { markdownTable, pct, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { SETUP_DEFAULTS } from '../method/experiment.ts';

const { values } = parseArgs({
  options: {
    factors: { type: 'string', default: '0.1,0.3,0.65,1,1.5' },
    rounds: { type: 'string', default: '10' },
    'samples-per-client': { type: 'string', default: '300' },
    clients: { type: 'string', default: String(SETUP_DEFAULTS.clients) },
    seed: { type: 'string', default: String(SETUP_DEFAULTS.seed) },
    data: { type: 'string' },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});
const factors = values.factors.split(',').map(Number);
const t0 = performance.now();
const ds = loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all');
const cap = Number(values['samples-per-client']);
console.log(`bench:mu — ${ds.name}, ${values.clients} clients, Dir(${SETUP_DEFAULTS.alpha}), ${values.rounds} rounds, cap ${cap} samples per client, mu factors ${factors.join(', ')}`);
const results: { factor: number; result: SimResult }[] = [];
for (const factor of factors) {
  const cfg = resolveSimConfig({
    method: 'tinyproto',
    clients: Number(values.clients),
    rounds: Number(values.rounds),
    samplesPerClient: cap,
    seed: Number(values.seed),
    dataDir: values.data ?? null,
    muFactor: factor,
  });
  const result = await simulate(cfg, {
    dataset: ds,
    onRound: (r) => process.stderr.write(`  factor ${factor} round ${r.round}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)}\n`),
  });
  results.push({ factor, result });
}
const header = ['mu factor', 'mu', 'best acc (head)', 'last acc (head)', 'best acc (proto)', 'last acc (proto)', 'last proto loss'];
const rows = results.map(({ factor, result }) => {
  const s = result.summary;
  const last = result.rounds[result.rounds.length - 1];
  return [
    String(factor),
    (result.mu ?? 0).toExponential(2),
    pct(s.best.accuracyHead),
    pct(s.last.accuracyHead),
    pct(s.best.accuracyPrototype),
    pct(s.last.accuracyPrototype),
    (last?.protoLoss ?? 0).toFixed(4),
  ];
});
console.log('\n' + textTable(header, rows));
const seconds = (performance.now() - t0) / 1000;
const md =
  markdownTable(header, rows) +
  `\n\n_TinyProto on Fashion-MNIST, ${values.clients} clients, Dir(${SETUP_DEFAULTS.alpha}), ${values.rounds} rounds, at most ${cap} samples per client, d = ${SETUP_DEFAULTS.featureDim}, r = ${SETUP_DEFAULTS.ratio * 100}%, lambda = ${SETUP_DEFAULTS.lambda}, seed ${values.seed}; ` +
  `mu = factor x K / total training samples. Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(0)} min on ${os.availableParallelism()} cores with \`npm run bench:mu\`._`;
const updated = writeBenchmarkResults(values.out, 'mu-sweep', 'bench:mu', md, { date: new Date().toISOString(), seconds, runs: results.map(({ factor, result }) => ({ factor, mu: result.mu, summary: result.summary, rounds: result.rounds.map(({ clients: _c, ...r }) => r) })) });
console.log(`wrote ${values.out}/mu-sweep.json${updated ? '; README.md refreshed' : ''} (${(seconds / 60).toFixed(1)} min)`);
