/**
 * `npm run bench:accuracy`: TinyProto vs FedProto vs Local on Fashion-MNIST at convergence, over
 * seeds and Dirichlet alphas, each method with the paper's settings (benchmarks/sim-settings.ts:
 * d = 500, r = 10%, lambda = 10, batch 32, SGD lr 0.01, 1 local epoch; heterogeneous backbones by
 * client id mod 4). Each run evaluates every `--eval-every` rounds (and the last) and stops by the
 * plateau rule (sim/long-run.ts) or at `--max-rounds`.
 *
 * Incremental and resumable: every finished (variant, alpha, seed) run of a size is stored under
 * benchmarks/results/accuracy-runs/<size>/ (benchmarks/accuracy-runs.ts) and skipped next time;
 * a run in progress checkpoints every round and continues where it stopped. The report (tables,
 * verdicts, curves as SVG and PNG, README block) is rebuilt from every stored run of the size,
 * so a variant can be run later and joins the table (`--report-only` rebuilds without training).
 * A larger `--max-rounds` adopts the runs of a smaller cap that stopped by the plateau rule, and
 * `--plateau 0` (or a longer plateau) adopts the runs of the same cap that reached it unstopped.
 * The default size writes benchmarks/results/accuracy.{md,json}, accuracy-curves.{svg,png} and the
 * README block bench:accuracy; any other size writes accuracy-<size>.{md,json} and
 * accuracy-<size>-curves.*, and the README block bench:accuracy:<size> when README has one.
 *
 *   npm run bench:accuracy -- [--methods a,b,c] [--variant NAME:field=value,...]... [--seeds 1,2,3]
 *                             [--alphas 0.1,0.5] [--clients N] [--samples-per-client M|all]
 *                             [--max-rounds R] [--eval-every K] [--plateau N] [--plateau-delta F]
 *                             [--report-only] [--no-readme]
 *
 * Built-in variants (benchmarks/accuracy-variants.ts): tinyproto, tinyproto-plus (the improvement
 * preset), tinyproto-plus-spread (the preset with the 'spread' evaluation rule), fedproto, local
 * (the default), tinyproto-r50 and tinyproto-r90 (s = 250 / 450 at d = 500), tinyproto-localscale, tinyproto-masked (masked loss and evaluation, no local scale).
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { writeFileSync } from 'node:fs';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { pct, textTable } from '../common/table.ts';
import { TinyProtoError } from '../common/errors.ts';
import { svgToPng } from '../report/png.ts';
import { SETUP_DEFAULTS, setupText } from '../method/experiment.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { DEFAULT_METHODS, parseVariant, pickVariants, sizeKey, variantCatalogue, type BenchSize } from './accuracy-variants.ts';
import { adoptStoredRun, loadStoredRuns, planRun, runAndStore, sizeDir, storedRun } from './accuracy-runs.ts';
import { convergenceLine, curvesSvg, groupRuns, reportMarkdown, TABLE_HEADER, tableRows, verdictLines } from './accuracy-report.ts';

// a wrong flag or variant (TinyProtoError) is one line with its code, not a stack trace
process.on('uncaughtException', (e) => {
  process.stderr.write(e instanceof TinyProtoError ? `bench:accuracy: ${e.message} [${e.code}]\n` : `bench:accuracy: ${e.stack ?? e.message}\n`);
  process.exit(2);
});

/**
 * The default size, chosen to fit this machine (2 cores shared with other sessions): unloaded, a
 * probe of 8 clients x 200 samples ran 1.2 s per round and 10 clients x 300 about 1.7 s (ONNX
 * Runtime, 2 workers), but with the machine shared (load average 9-10) 10 x 300 ran 8-10 s per
 * round, too slow for 18 runs of up to 60 rounds. So: 8 clients x 200 samples (150 train / 50 test
 * each), at most 40 rounds, evaluated every 2 rounds, stopping after 4 evaluations in a row
 * without a 0.2-point gain. The 18 runs of the default (3 methods x 3 seeds x 2 alphas) took the
 * time printed under the table (benchmarks/results/accuracy.md).
 */
const DEFAULT_SIZE = { clients: 8, samplesPerClient: 200, maxRounds: 40, evalEvery: 2, plateau: 4, plateauDelta: 0.002 } as const;

const { values } = parseArgs({
  options: {
    methods: { type: 'string', default: DEFAULT_METHODS.join(',') },
    variant: { type: 'string', multiple: true, default: [] },
    seeds: { type: 'string', default: '1,2,3' },
    alphas: { type: 'string', default: '0.1,0.5' },
    clients: { type: 'string', default: String(DEFAULT_SIZE.clients) },
    'samples-per-client': { type: 'string', default: String(DEFAULT_SIZE.samplesPerClient) },
    'max-rounds': { type: 'string', default: String(DEFAULT_SIZE.maxRounds) },
    'eval-every': { type: 'string', default: String(DEFAULT_SIZE.evalEvery) },
    plateau: { type: 'string', default: String(DEFAULT_SIZE.plateau) },
    'plateau-delta': { type: 'string', default: String(DEFAULT_SIZE.plateauDelta) },
    data: { type: 'string' },
    'report-only': { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});

const list = (s: string, what: string): number[] =>
  s.split(',').map((x) => {
    const n = Number(x.trim());
    if (x.trim() === '' || !Number.isFinite(n)) throw new TinyProtoError('E_CONFIG', `--${what}: "${x}" is not a number`);
    return n;
  });
const size: BenchSize = {
  clients: Number(values.clients),
  samplesPerClient: values['samples-per-client'] === 'all' ? null : Number(values['samples-per-client']),
  maxRounds: Number(values['max-rounds']),
  evalEvery: Number(values['eval-every']),
  plateau: Number(values.plateau),
  plateauDelta: Number(values['plateau-delta']),
};
const seeds = list(values.seeds, 'seeds');
const alphas = list(values.alphas, 'alphas');
const methodNames = values.methods.split(',').map((s) => s.trim()).filter((s) => s !== '');
const catalogue = variantCatalogue(values.variant.map(parseVariant));
const variants = pickVariants(catalogue, methodNames);
const out = values.out;
const dataDir = values.data ?? null;
const plans = alphas.flatMap((alpha) => seeds.flatMap((seed) => variants.map((v) => planRun(out, size, v, alpha, seed, dataDir))));
const paper = SETUP_DEFAULTS;
const cores = os.availableParallelism();
const plateauRule =
  size.plateau > 0
    ? `evaluate every ${size.evalEvery} rounds and the last; stop when ${size.plateau} evaluations in a row improved neither the best head nor the best prototype accuracy by more than ${(size.plateauDelta * 100).toFixed(1)} points, or at round ${size.maxRounds}`
    : `evaluate every ${size.evalEvery} rounds and the last; no plateau rule: ${size.maxRounds} rounds`;
const capText = size.samplesPerClient === null ? 'no cap (all of each client\'s data)' : `at most ${size.samplesPerClient} samples per client (75% train / 25% test)`;

console.log(`bench:accuracy — ${size.clients} clients, ${capText}, Dir(${alphas.join('), Dir(')}), seeds ${seeds.join(', ')}; ${cores} cores`);
console.log(`size ${sizeKey(size)}; stored runs in ${sizeDir(out, size)}`);
console.log(`plateau rule: ${plateauRule}`);
for (const v of variants) console.log(`  variant ${v.name}: ${v.spec}`);

const t0 = performance.now();
let trained = 0;
const failed: string[] = [];
if (!values['report-only']) {
  let adopted = 0;
  const todo = plans.filter((p) => {
    if (storedRun(p) !== null) return false;
    const from = adoptStoredRun(out, p);
    if (from === null) return true;
    adopted++;
    const how = from.stopped.reason === 'plateau' ? 'stopped by the plateau rule at round' : 'ran to its cap without its plateau rule firing, round';
    console.log(`  ${p.variant.name} Dir(${p.alpha}) seed ${p.seed}: ${how} ${from.stopped.round} under ${from.reusedFrom}; adopted`);
    return false;
  });
  console.log(`${plans.length - todo.length} of ${plans.length} runs already stored${adopted > 0 ? ` (${adopted} adopted from another size)` : ''}; ${todo.length} to run`);
  const ds = todo.length > 0 ? loadDataset(dataDir ?? DEFAULT_DATA_DIR, 'all') : null;
  for (const [i, plan] of todo.entries()) {
    const label = `${plan.variant.name} Dir(${plan.alpha}) seed ${plan.seed}`;
    let run: Awaited<ReturnType<typeof runAndStore>>;
    try {
      run = await runAndStore(plan, {
        dataset: ds!,
        onRound: (_p, r) => {
          if (r.evaluated) process.stderr.write(`  [${i + 1}/${todo.length}] ${label} round ${r.round}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} own ${pct(r.accuracyPrototypeOwn)} (${r.seconds.toFixed(1)} s)\n`);
        },
      });
    } catch (e) {
      // a run that fails is not stored and stays out of the table; the others go on, and the
      // failure is listed at the end (a client whose training diverges does not fail the run: it
      // skips that round, as an agent does, and the run's summary counts it)
      const message = e instanceof Error ? e.message : String(e);
      failed.push(`${label}: ${message}`);
      console.log(`[${i + 1}/${todo.length}] ${label}: FAILED, not stored: ${message}`);
      continue;
    }
    trained++;
    console.log(
      `[${i + 1}/${todo.length}] ${label}: ${run.rounds.length} rounds (${run.stopped.reason === 'plateau' ? 'plateau' : 'max rounds'}${run.resumedFrom !== null ? `, resumed from round ${run.resumedFrom}` : ''}), ` +
        `head ${pct(run.summary.last.accuracyHead)} proto ${pct(run.summary.last.accuracyPrototype)} own ${pct(run.summary.last.accuracyPrototypeOwn)}, ${run.seconds.toFixed(0)} s` +
        ((run.summary.failedClientRounds ?? 0) > 0 ? `; ${run.summary.failedClientRounds} client-round(s) diverged and were skipped` : ''),
    );
  }
}

// ------------------------------------------------------------------------------ report
const runs = loadStoredRuns(out, size);
if (runs.length === 0) {
  console.log('no stored runs of this size: nothing to report');
  process.exit(failed.length > 0 ? 1 : 0);
}
const groups = groupRuns(runs, methodNames);
for (const [alpha, stats] of groups) console.log(`\nDir(${alpha}):\n${textTable(TABLE_HEADER, tableRows(stats))}`);
const lines = verdictLines(groups);
console.log('\n' + lines.join('\n') + '\n' + convergenceLine(runs));

// the default size owns accuracy.{md,json}, the curves and the README block; another size writes files named after it
const isDefaultSize = sizeKey(size) === sizeKey(DEFAULT_SIZE);
const name = isDefaultSize ? 'accuracy' : `accuracy-${sizeKey(size)}`;
const svg = curvesSvg(runs, groups);
writeFileSync(`${out}/${name}-curves.svg`, svg);
writeFileSync(`${out}/${name}-curves.png`, svgToPng(svg, 1400));
const seconds = (performance.now() - t0) / 1000;
const runSeconds = runs.reduce((a, r) => a + r.seconds, 0);
const specs = [...new Map(runs.map((r) => [r.variant, r.spec])).entries()].map(([n, s]) => `${n} = ${s}`).join('; ');
const md =
  reportMarkdown(groups, runs) +
  `\n\n![Accuracy per round, mean over seeds: head solid, prototype among own classes dashed](benchmarks/results/${name}-curves.png)\n\n` +
  `_Fashion-MNIST (70,000 images pooled, split by Dirichlet alpha over ${size.clients} clients), ${capText}; heterogeneous ResNet-8 / MobileNetV2 / ShuffleNetV2 / EfficientNet-lite (client id mod 4), ` +
  `${setupText(paper)}, ${paper.localEpochs} local epoch. Variants: ${specs}. ${plateauRule[0]!.toUpperCase()}${plateauRule.slice(1)}. ` +
  `Each figure is the mean ± sample standard deviation (min-max) over seeds of the test-size-weighted mean over clients of each client's own test split, at the run's last evaluation ("last") or its best one ("best"). ` +
  `"proto" = nearest global prototype among all K classes (Local has none); "proto (own)" = nearest prototype among the client's own classes (Local: its own class means), the metric comparable with Local. ` +
  `A difference smaller than the larger of the two standard deviations is a tie; "paired by seed" is the mean ± standard deviation of the per-seed differences (a seed is one data split, the same for every method) and on how many seeds the variant was at least as high. Curves: mean over seeds at each evaluated round; a run that stopped earlier counts with its last value. ` +
  `${runs.length} stored runs (${sizeKey(size)}, benchmarks/results/accuracy-runs/), ${(runSeconds / 60).toFixed(0)} min of simulation on ${cores} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}); ` +
  `refreshed ${new Date().toISOString().slice(0, 10)} with \`npm run bench:accuracy\`._`;
const json = {
  date: new Date().toISOString(),
  size,
  sizeKey: sizeKey(size),
  plateauRule,
  settings: { ...paper, samplesPerClient: size.samplesPerClient },
  groups: Object.fromEntries([...groups].map(([a, s]) => [String(a), s])),
  verdicts: lines,
  runs: runs.map((r) => ({ variant: r.variant, alpha: r.alpha, seed: r.seed, rounds: r.rounds.length, stopped: r.stopped, seconds: r.seconds, summary: r.summary })),
};
// the default size's README block is bench:accuracy; another size's is bench:accuracy:<size>, refreshed when README has it
const block = isDefaultSize ? 'bench:accuracy' : `bench:accuracy:${sizeKey(size)}`;
let updated = false;
if (values['no-readme']) {
  writeFileSync(`${out}/${name}.md`, md + '\n');
  writeFileSync(`${out}/${name}.json`, JSON.stringify(json, null, 1));
} else {
  updated = writeBenchmarkResults(out, name, block, md, json);
  if (updated) console.log(`README.md block ${block} refreshed`);
}
console.log(`\nwrote ${out}/${name}.json, ${name}.md, ${name}-curves.svg/png${updated ? '' : values['no-readme'] ? ' (--no-readme: README untouched)' : ` (README has no block ${block}: untouched)`} (${trained} run${trained === 1 ? '' : 's'} trained, ${(seconds / 60).toFixed(1)} min)`);
if (failed.length > 0) {
  console.log(`\n${failed.length === 1 ? '1 run failed and is' : `${failed.length} runs failed and are`} not in the table (a rerun continues from the last checkpoint of each):\n${failed.map((f) => `  ${f}`).join('\n')}`);
  process.exitCode = 1;
}
