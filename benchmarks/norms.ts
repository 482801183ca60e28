/**
 * `npm run bench:norms`: the investigation of why TinyProto trailed FedProto (issue 14's first
 * question), measured rather than guessed. TinyProto and FedProto on the same seed, partition
 * and models; per round: accuracy (head, prototype among all K, prototype among each client's
 * own classes), the count-weighted norm of the clients' class means ||p_ij||, the norm of the
 * global prototypes they received ||P_j|| and its ratio to the local norm, and TinyProto's
 * per-class factor mu * n_j (P_j = mu * n_j * the count-weighted mean). Table + JSON in
 * benchmarks/results/norms.*, table in README.md.
 *
 *   npm run bench:norms -- [--clients 10] [--alpha 0.1] [--rounds 15] [--samples-per-client 600] [--seed 2]
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { resolveSimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { spread } from '../sim/diagnostics.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { markdownTable, pct, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { paperSimSettings } from './sim-settings.ts';
import type { Method } from '../method/method.ts';
import type { PrototypeScale } from '../method/prototype-scale.ts';

const { values } = parseArgs({
  options: {
    clients: { type: 'string', default: '10' },
    alpha: { type: 'string', default: '0.1' },
    rounds: { type: 'string', default: '15' },
    'samples-per-client': { type: 'string', default: '600' },
    seed: { type: 'string', default: '2' },
    // METHOD or METHOD:local (the local prototype scale option)
    methods: { type: 'string', default: 'tinyproto,tinyproto:local,fedproto' },
    data: { type: 'string' },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});
const t0 = performance.now();
const ds = loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all');
const size = { clients: Number(values.clients), rounds: Number(values.rounds), samplesPerClient: Number(values['samples-per-client']), seed: Number(values.seed), dataDir: values.data ?? null };
const alpha = Number(values.alpha);
const variants = values.methods.split(',').map((v) => {
  const [method, scale] = v.split(':') as [Method, PrototypeScale | undefined];
  return { name: v, method, prototypeScale: scale ?? 'server' };
});
const methods = variants.map((v) => v.name);
process.stdout.write(`bench:norms — ${ds.name}, ${size.clients} clients, Dir(${alpha}), ${size.rounds} rounds, at most ${size.samplesPerClient} samples per client, seed ${size.seed}; ${methods.join(' vs ')}\n`);

const runs: { method: string; base: Method; result: SimResult }[] = [];
for (const { name: method, method: m, prototypeScale } of variants) {
  const cfg = resolveSimConfig({ ...paperSimSettings(size, true), alpha, method: m, prototypeScale });
  const result = await simulate(cfg, {
    dataset: ds,
    onRound: (r) => process.stderr.write(`  ${method} round ${r.round}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} own ${pct(r.accuracyPrototypeOwn)} ${r.seconds.toFixed(0)} s\n`),
  });
  runs.push({ method, base: m, result });
}

const f = (x: number | null | undefined, d = 2): string => (x === null || x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));
const header = ['round', ...methods.flatMap((m) => [`${m} head`, `${m} proto`, `${m} own`, `${m} ‖p‖`, `${m} ‖P‖/‖p‖ min-max`]), 'tinyproto on-mask share', 'tinyproto mu·n_j min-max'];
const rows = Array.from({ length: size.rounds }, (_, k) => {
  const cells = [String(k + 1)];
  let muCell = '-';
  let maskCell = '-';
  for (const { base, result } of runs) {
    const r = result.rounds[k];
    if (!r) {
      cells.push('-', '-', '-', '-', '-');
      continue;
    }
    const local = spread(r.prototypeScales.map((c) => c.localNorm));
    const ratio = spread(r.prototypeScales.map((c) => c.ratio));
    cells.push(pct(r.accuracyHead), pct(r.accuracyPrototype), pct(r.accuracyPrototypeOwn), f(local?.mean), ratio ? `${f(ratio.min)}-${f(ratio.max)}` : '-');
    if (base === 'tinyproto' && muCell === '-') {
      const mu = spread(r.prototypeScales.map((c) => c.muScale));
      muCell = mu ? `${f(mu.min)}-${f(mu.max)}` : '-';
      maskCell = f(spread(r.prototypeScales.map((c) => c.onMask))?.mean);
    }
  }
  cells.push(maskCell, muCell);
  return cells;
});
process.stdout.write('\n' + textTable(header, rows) + '\n');
const seconds = (performance.now() - t0) / 1000;
const md =
  markdownTable(header, rows) +
  `\n\n_Fashion-MNIST, ${size.clients} clients, Dir(${alpha}), at most ${size.samplesPerClient} samples per client, paper settings (d = 500, r = 10%, lambda = 10, mu factor 0.65), seed ${size.seed}. ` +
  `‖p‖: count-weighted mean over clients and classes of the norm of the clients' class means; ‖P‖/‖p‖: per class, the received global prototype's norm over that local norm (min-max over classes); on-mask share: the part of ‖p_ij‖ on the class's mask (mean over classes; TinyProto's P_j keeps only that part); mu·n_j: TinyProto's factor between P_j and the count-weighted class mean. ` +
  `Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(0)} min on ${os.availableParallelism()} cores with \`npm run bench:norms\`._`;
const updated = writeBenchmarkResults(values.out, 'norms', 'bench:norms', md, {
  date: new Date().toISOString(),
  seconds,
  size,
  alpha,
  runs: runs.map(({ method, result }) => ({ method, mu: result.mu, summary: result.summary, rounds: result.rounds.map(({ clients: _c, ...r }) => r) })),
});
process.stdout.write(`wrote ${values.out}/norms.json${updated ? '; README.md refreshed' : ''} (${(seconds / 60).toFixed(1)} min)\n`);
