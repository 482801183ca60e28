/**
 * `npm run bench:wifi`: TinyProto against FedProto in a real fleet over constrained Wi-Fi.
 * Each method runs once with the same seed, partition and backbones: an embedded broker, the
 * aggregator, and agent processes, each behind its own userspace link emulator
 * (emulation/link-emulator.ts) and in its own board cgroup (CPU quota calibrated once for both
 * runs; energy from the agents' telemetry with that board's profile). Reported: round time
 * p50/p95, time, bytes and energy to a target accuracy both methods reach, bytes per round up
 * and down (encoded messages, and everything through the links), accuracy against wall-clock
 * time and against cumulative bytes (report/charts.ts, SVG + PNG), and what the smaller upload
 * is worth in seconds: each upload's time on its link, measured from the emulator's transfers
 * and computed as bytes / rate + latency, against the measured round-time difference.
 *
 *   npm run bench:wifi -- [--quick] [--agents N] [--rounds R] [--samples-per-client M] [--seed S]
 *                         [--link SPEC] [--board BOARD] [--host-speed IMAGES_PER_SEC] [--target 0.xx]
 *                         [--out DIR] [--img DIR] [--keep] [--no-readme]
 *
 * Needs root for the cgroups (else the agents run unthrottled and the results say so).
 */
import { parseArgs } from 'node:util';
import os from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBenchmarkResults } from './readme-block.ts';
import { cpuInfo } from './cpu-info.ts';
import { measureHostTrainSpeed } from '../emulation/calibrate.ts';
import { resolveLinkProfile } from '../emulation/link-profiles.ts';
import { burstBytes } from '../emulation/link-direction.ts';
import { buildCharts } from '../report/charts.ts';
import { svgToPng } from '../report/png.ts';
import { reachableTarget } from './wifi-analysis.ts';
import { runWifiMethod, type WifiRun, type WifiRunSettings } from './wifi-run.ts';
import { WIFI_EXPERIMENT_FILE, describeGroups, mainLink, wifiScenario } from './wifi-scenario.ts';
import { methodFigures, resultsTable, uploadTable, worthStatement } from './wifi-tables.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'experiment-file': { type: 'string', default: WIFI_EXPERIMENT_FILE },
    agents: { type: 'string' },
    rounds: { type: 'string' },
    'samples-per-client': { type: 'string' },
    seed: { type: 'string' },
    link: { type: 'string' },
    board: { type: 'string' },
    target: { type: 'string' },
    'host-speed': { type: 'string' },
    out: { type: 'string', default: 'benchmarks/results' },
    img: { type: 'string', default: 'docs/img' },
    keep: { type: 'boolean', default: false },
    'no-readme': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const scenario = wifiScenario({
  quick, file: values['experiment-file'], agents: values.agents, rounds: values.rounds, samplesPerClient: values['samples-per-client'],
  seed: values.seed, link: values.link, board: values.board,
});
const { plans, rounds, seed } = scenario;
const nAgents = plans.length;
const samples = scenario.samplesPerClient;
const out = quick && values.out === 'benchmarks/results' ? join(os.tmpdir(), 'bench-wifi-quick') : values.out;
const imgDir = quick && values.img === 'docs/img' ? out : values.img;
const log = (s: string): void => console.log(s);
const groupsText = describeGroups(plans);

const t0 = performance.now();
const loadBefore = os.loadavg();
const cpu = cpuInfo();
const isRoot = process.getuid?.() === 0;
log(`bench:wifi: ${nAgents} agents, ${rounds} rounds, ${samples} samples per agent, seed ${seed}${quick ? ' (quick)' : ''}; ${scenario.file}`);
log(`  ${groupsText}`);
log(`  CPU ${cpu.model} (${cpu.simd}), ${os.availableParallelism()} cores; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')}${isRoot ? '' : '; not root: agents run unthrottled'}`);

// one calibration for both runs: both methods' agents get the same CPU quota
// (the best of three short measurements: the least disturbed by other processes on the machine)
const measured: number[] = [];
if (values['host-speed'] === undefined) for (let i = 0; i < 3; i++) measured.push((await measureHostTrainSpeed(1)).imagesPerSec);
const host = { imagesPerSec: values['host-speed'] !== undefined ? Number(values['host-speed']) : Math.max(...measured) };
log(`  this machine trains ResNet-8 at ${host.imagesPerSec.toFixed(0)} images/s on one core${values['host-speed'] !== undefined ? ' (--host-speed)' : ` (best of ${measured.map((x) => x.toFixed(0)).join(', ')} measured now)`}`);

const dir = mkdtempSync(join(os.tmpdir(), 'bench-wifi-'));
const tag = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
const settings: WifiRunSettings = {
  agents: plans, rounds, samplesPerClient: samples, seed, alpha: scenario.alpha, hostImagesPerSec: host.imagesPerSec,
  roundDeadlineMs: scenario.roundDeadlineMs, dir, aggregator: scenario.aggregator,
};
const runs: WifiRun[] = [];
try {
  for (const method of ['tinyproto', 'fedproto'] as const) {
    log(`${method}:`);
    runs.push(await runWifiMethod(method, settings, tag, log));
  }
} finally {
  if (!values.keep) rmSync(dir, { recursive: true, force: true });
}
const loadAfter = os.loadavg();

// ------------------------------------------------------------------------------ figures
const bests = runs.map((w) => {
  const accs = w.run.rounds.map((r) => r.accuracyHead).filter((x): x is number => x !== null);
  return accs.length ? Math.max(...accs) : null;
});
const target = values.target !== undefined ? Number(values.target) : (reachableTarget(bests) ?? 0.5);
const figs = runs.map((w) => methodFigures(w, target));
const [tiny, fed] = [figs[0]!, figs[1]!];
const linkSpec = mainLink(plans) ?? 'none';
const linkProfile = resolveLinkProfile(linkSpec);
const linkLabel = `\`${linkSpec}\` (${linkProfile.up.rateKbit / 1000} Mbit/s up, ${linkProfile.up.latencyMs} + 0-${linkProfile.up.jitterMs} ms one way, ${(linkProfile.stallProbability * 100).toFixed(2)}% segment loss)`;
const worth = worthStatement(fed, tiny, { label: linkLabel, stallProbability: linkProfile.stallProbability, stallMs: linkProfile.stallMs });
const computedNote =
  `Computed leaves out what the emulator adds on top: the jitter (uniform 0-${linkProfile.up.jitterMs} ms, mean ${linkProfile.up.jitterMs / 2} ms) and retransmission stalls ` +
  `(${(linkProfile.stallProbability * 100).toFixed(2)}% per 1448 B segment, ${linkProfile.stallMs} ms each), and the token bucket's burst ` +
  `(${burstBytes(linkProfile.up.rateKbit).toLocaleString('en-US')} B at this rate, as tbf's), which lets a message up to that size leave without waiting for the rate.`;

// plots: accuracy against wall-clock time and against cumulative bytes, both methods
mkdirSync(imgDir, { recursive: true });
const { charts } = buildCharts(runs.map((w) => w.run));
const plots: string[] = [];
for (const id of ['accuracy-time', 'accuracy-bytes']) {
  const c = charts.find((x) => x.id === id);
  if (!c) continue;
  const stem = join(imgDir, `bench-wifi-${id}`);
  writeFileSync(`${stem}.svg`, c.svg + '\n');
  writeFileSync(`${stem}.png`, svgToPng(c.svg, 1000));
  plots.push(stem);
}

const seconds = (performance.now() - t0) / 1000;
const emulationLines = [...new Set(runs.flatMap((w) => w.emulation))];
const load = (l: number[]): string => l.map((x) => x.toFixed(2)).join(' / ');
const md =
  `${nAgents} agents in \`tinyproto fleet\` (real agent processes, embedded broker), each behind its own link emulator and in its own board cgroup; ` +
  `TinyProto against FedProto with the same seed, partition and backbones. Target accuracy **${(target * 100).toFixed(0)}%** (head, test-size-weighted mean over the agents; ` +
  `${values.target !== undefined ? 'set with --target' : '90% of the lower of the two methods\' best, rounded down'}).\n\n` +
  resultsTable(figs, target) +
  `\n\n` +
  uploadTable(figs) +
  `\n\n${worth.text} ${computedNote}\n\n` +
  plots.map((p) => `![${p.endsWith('time') ? 'accuracy against wall-clock time' : 'accuracy against cumulative bytes'}](${p}.png)`).join('\n') +
  `\n\n_Agents (\`${scenario.file}\`${quick ? ', --quick' : ''}): ${groupsText}. Emulation: ${emulationLines.join('; ')}. ` +
  `Fashion-MNIST, Dir(${scenario.alpha}) over ${nAgents} agents, at most ${samples} samples per agent (75% train / 25% test), heterogeneous backbones (agent index mod 4), d = 500, r = 10%, ` +
  `${Object.entries(scenario.aggregator).map(([k, v]) => `${k} ${String(v)}`).join(', ')}${Object.keys(scenario.aggregator).length ? ', ' : ''}round deadline ${scenario.roundDeadlineMs / 1000} s, ${rounds} rounds, seed ${seed}. ` +
  `Time = the aggregator's round times (round 1 includes the agents' start-up: process, data, model); bytes to target = encoded messages up and down; ` +
  `through the links = every byte each emulator carried (MQTT framing, signatures, telemetry, status, keep-alive). Energy = the agents' telemetry estimate with the emulated board's profile (board/profiles.ts), not a measurement. ` +
  `Link time of an upload = first byte into the agent's emulator to last byte out towards the broker, for the up transfer that carried the PUBLISH. ` +
  `Noise: one run per method on a shared ${os.availableParallelism()}-core machine (${cpu.model}, ${cpu.simd}); load average (1/5/15 min) ${load(loadBefore)} before, ${load(loadAfter)} after. ` +
  `Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(1)} min with \`npm run bench:wifi\`._`;

const json = {
  date: new Date().toISOString(),
  seconds,
  settings: {
    file: scenario.file, quick, agents: nAgents, groups: groupsText, plans, rounds, samplesPerClient: samples, seed, alpha: scenario.alpha, aggregator: scenario.aggregator,
    roundDeadlineMs: scenario.roundDeadlineMs, hostImagesPerSec: host.imagesPerSec, hostMeasurements: measured, root: isRoot,
  },
  cpu,
  loadAverage: { before: loadBefore, after: loadAfter },
  target,
  emulation: emulationLines,
  methods: figs,
  worth: worth.comparison,
  runs: runs.map((w) => ({ method: w.method, experiment: w.experiment, accepted: w.accepted, rounds: w.run.rounds, links: w.result.links.map(({ upTransfers: _t, ...l }) => l), boards: w.result.boards, churn: w.result.churn, participation: w.result.participation, crashes: w.result.crashes, uploads: w.uploads })),
  plots: plots.flatMap((p) => [`${p}.svg`, `${p}.png`]),
};
log('');
log(md);
if (quick || values['no-readme']) {
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'wifi.md'), md + '\n');
  writeFileSync(join(out, 'wifi.json'), JSON.stringify(json, null, 1));
  log(`\nwrote ${out}/wifi.json and wifi.md (README untouched) in ${(seconds / 60).toFixed(1)} min`);
} else {
  const updated = writeBenchmarkResults(out, 'wifi', 'bench:wifi', md, json);
  log(`\nwrote ${out}/wifi.json and wifi.md${updated ? '; README.md block refreshed' : ''} (${(seconds / 60).toFixed(1)} min)`);
}
