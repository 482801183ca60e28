/**
 * `npm run bench:accuracy`: TinyProto vs FedProto vs Local on Fashion-MNIST in one run, with the
 * paper's settings (20 clients, Dir(0.1), heterogeneous backbones, d = 500, r = 10%, lambda = 10,
 * batch 32, SGD lr 0.01, 1 local epoch), plus a TinyProto sparsity sweep (r = 10/30/50/90%).
 * By default every client uses all of its data (the paper's scale; `--samples-per-client M` caps
 * it for a quicker run); the cap is printed and recorded. Writes benchmarks/results/accuracy.json and accuracy.md and
 * refreshes the table in README.md.
 *
 *   npm run bench:accuracy -- [--rounds R] [--samples-per-client M] [--clients N] [--seed S] [--no-sweep]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { markdownTable, pct, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { paperSimSettings } from './sim-settings.ts';
import { SETUP_DEFAULTS, setupText } from '../method/experiment.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '20' },
    'samples-per-client': { type: 'string', default: 'all' },
    clients: { type: 'string', default: String(SETUP_DEFAULTS.clients) },
    seed: { type: 'string', default: String(SETUP_DEFAULTS.seed) },
    data: { type: 'string' },
    'no-sweep': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});
const rounds = Number(values.rounds);
const cap = values['samples-per-client'] === 'all' ? null : Number(values['samples-per-client']);
const base: Partial<SimConfig> = paperSimSettings({ clients: Number(values.clients), rounds, samplesPerClient: cap, seed: Number(values.seed), dataDir: values.data ?? null }, false);
const paper = SETUP_DEFAULTS;

interface Run {
  label: string;
  method: SimConfig['method'];
  ratio: number;
}
const runs: Run[] = [
  { label: `TinyProto r=${paper.ratio * 100}%`, method: 'tinyproto', ratio: paper.ratio },
  { label: 'FedProto', method: 'fedproto', ratio: 1 },
  { label: 'Local', method: 'local', ratio: 1 },
];
if (!values['no-sweep']) for (const r of [0.3, 0.5, 0.9]) runs.push({ label: `TinyProto r=${r * 100}%`, method: 'tinyproto', ratio: r });

const t0 = performance.now();
const ds = loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all');
console.log(
  `bench:accuracy — ${ds.name}, ${base.clients} clients, Dir(${base.alpha}), ${rounds} rounds, ` +
    `cap ${cap === null ? 'none (all data)' : `${cap} samples per client (75% train / 25% test)`}, ` +
    `d=${paper.featureDim}, lambda=${paper.lambda}, batch ${paper.batchSize}, lr ${paper.lr}, ${paper.localEpochs} local epoch; ${os.availableParallelism()} cores`,
);
const results: { run: Run; result: SimResult }[] = [];
for (const run of runs) {
  const cfg = resolveSimConfig({ ...base, method: run.method, ratio: run.method === 'tinyproto' ? run.ratio : paper.ratio });
  const t = performance.now();
  const result = await simulate(cfg, {
    dataset: ds,
    onRound: (r) =>
      process.stderr.write(
        `  ${run.label} round ${r.round}/${rounds}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} (${r.seconds.toFixed(1)} s)\n`,
      ),
  });
  console.log(`${run.label}: done in ${((performance.now() - t) / 1000).toFixed(0)} s`);
  results.push({ run, result });
}

const fed = results.find((r) => r.run.method === 'fedproto')?.result.summary.meanBytesUpPerClientRound ?? null;
const header = ['method', 's/class', 'best acc (head)', 'last acc (head)', 'best acc (proto)', 'last acc (proto)', 'up B/client/round', 'down B/client/round', 'up vs FedProto', 'time'];
const rows = results.map(({ run, result }) => {
  const s = result.summary;
  return [
    run.label,
    run.method === 'tinyproto' ? String(result.masks?.s ?? '') : run.method === 'fedproto' ? String(paper.featureDim) : '-',
    `${pct(s.best.accuracyHead)} (r${s.best.roundHead})`,
    pct(s.last.accuracyHead),
    s.best.accuracyPrototype === null ? 'n/a' : `${pct(s.best.accuracyPrototype)} (r${s.best.roundPrototype})`,
    pct(s.last.accuracyPrototype),
    s.meanBytesUpPerClientRound.toFixed(0),
    s.meanBytesDownPerClientRound.toFixed(0),
    fed && s.meanBytesUpPerClientRound > 0 ? `${(fed / s.meanBytesUpPerClientRound).toFixed(1)}x less` : run.method === 'local' ? 'no comm.' : '1.0x',
    `${result.seconds.toFixed(0)} s`,
  ];
});
console.log('\n' + textTable(header, rows));
const seconds = (performance.now() - t0) / 1000;
const md =
  markdownTable(header, rows) +
  `\n\n_Fashion-MNIST (70,000 images pooled, split by Dir(${base.alpha}) over ${base.clients} clients, each client 75% train / 25% test), ` +
  `${rounds} rounds, ${cap === null ? 'all of each client\'s data' : `at most ${cap} samples per client`}, heterogeneous ResNet-8 / MobileNetV2 / ShuffleNetV2 / EfficientNet-lite (client id mod 4), ` +
  `${setupText(paper)}, ${paper.localEpochs} local epoch, seed ${base.seed}; accuracy is the test-size-weighted mean over clients of each client's own test split; ` +
  `bytes are float32 payload per client per round (no headers). Local's "proto" column uses each client's own class means. ` +
  `Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(0)} min on ${os.availableParallelism()} cores with \`npm run bench:accuracy\`._`;
const updated = writeBenchmarkResults(values.out, 'accuracy', 'bench:accuracy', md, {
      date: new Date().toISOString(),
      seconds,
      settings: { ...base, cap },
      runs: results.map(({ run, result }) => ({
        label: run.label,
        method: run.method,
        ratio: run.ratio,
        mu: result.mu,
        masks: result.masks,
        summary: result.summary,
        models: result.models,
        clients: result.clients,
        rounds: result.rounds.map(({ clients: _c, ...r }) => r),
      })),
    });
console.log(`\nwrote ${values.out}/accuracy.json and accuracy.md${updated ? '; README.md table refreshed' : ''} (${(seconds / 60).toFixed(1)} min)`);
