/** `tinyproto fleet`: aggregator + N agent processes + broker on this machine. */
import { runFleet, participationLines, type ChurnEvent, type FleetOptions } from '../fleet/index.ts';
import type { Logger } from '../common/logger.ts';
import { TinyProtoError } from '../common/errors.ts';
import { assertValidId } from '../wire/topics.ts';
import { METHODS } from '../method/method.ts';
import { checkSetup, setupDefaults } from '../method/experiment.ts';
import { EXPERIMENT_DEFAULTS } from '../aggregator/config.ts';
import { VALUE_TYPES } from '../wire/codec-types.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import type { Family } from '../models/engine.ts';
import { flagHelp, parseFlags, type FlagTable } from './flags.ts';
import { bytes, pct, textTable } from '../common/table.ts';
import { muLine, ROUND_TABLE_HEADER, roundLine } from './server.ts';
import { progressBar } from './progress.ts';
import { etaText } from './eta.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { parseDashboardPort } from '../dashboard/server.ts';
import { ENGINE_HELP, validateEngineSettings } from '../learner/engine-settings.ts';
import { checkFleetEmulation } from '../emulation/fleet-emulation.ts';
import { LINK_PROFILE_NAMES } from '../emulation/link-profiles.ts';
import { EMULATED_BOARDS } from '../emulation/boards.ts';
import { EXPERIMENT_FILE_HELP, experimentFileFields } from './experiment-file.ts';
import { pickFields } from '../method/experiment-file.ts';
import { fleetPlan, hasChurn } from '../method/fleet-plan.ts';

/** The fleet's own defaults; the learning settings are the experiment setup's (method/experiment.ts). */
const FLEET_DEFAULTS = Object.freeze({
  agents: 4,
  broker: 'embedded',
  ...setupDefaults('method', 'rounds', 'alpha', 'seed', 'featureDim', 'ratio', 'valueType'),
  samplesPerClient: 300 as number | null,
  dataDir: null as string | null,
  families: null as Family[] | null,
  credentials: null as string | null,
  caFile: null as string | null,
  roundDeadlineMs: EXPERIMENT_DEFAULTS.roundDeadlineMs,
  engine: 'auto' as NonNullable<FleetOptions['engine']>,
  threads: 0,
  trainThreads: 0,
  provider: 'auto' as NonNullable<FleetOptions['provider']>,
  backend: 'auto' as FleetOptions['backend'],
  dashboardPort: null as number | null,
  link: null as string | null,
  board: null as string | null,
  hostImagesPerSec: null as number | null,
});

/** Aggregator settings the fleet passes through (FleetOptions.aggregator), with their defaults. */
const FLEET_AGGREGATOR_FIELDS = ['lambda', 'mu', 'muFactor', 'muFrom', 'totalTrainSamples', 'lr', 'batchSize', 'localEpochs', 'participation', 'minUploads', 'closeAt', 'offlineGraceMs', 'staleRounds'] as const;

/** The experiment-file fields the fleet takes as its own options. */
const FLEET_FILE_FIELDS = ['experiment', 'agents', 'rounds', 'method', 'alpha', 'seed', 'samplesPerClient', 'dataDir', 'featureDim', 'ratio', 'valueType', 'families', 'roundDeadlineMs', 'link', 'board'] as const;

export const FLEET_FLAGS: FlagTable = {
  agents: { field: 'agents', type: 'int', help: `number of agent processes (default ${FLEET_DEFAULTS.agents})` },
  rounds: { field: 'rounds', type: 'int', help: `rounds (default ${FLEET_DEFAULTS.rounds})` },
  broker: { field: 'broker', type: 'string', help: 'embedded (aedes in this process) or mqtt://... / mqtts://... (default embedded)' },
  dir: { field: 'dir', type: 'string', help: 'run directory for the SQLite stores (default runs/fleet-<time>)' },
  experiment: { field: 'experiment', type: 'string', help: 'experiment id (default fleet-<time>)' },
  method: { field: 'method', type: 'string', help: `${METHODS.join(' | ')} (default ${FLEET_DEFAULTS.method})` },
  alpha: { field: 'alpha', type: 'number', help: `Dirichlet label skew (default ${FLEET_DEFAULTS.alpha})` },
  seed: { field: 'seed', type: 'int', help: `seed (default ${FLEET_DEFAULTS.seed})` },
  'samples-per-client': { field: 'samplesPerClient', type: 'int|null', help: `cap per agent (default ${FLEET_DEFAULTS.samplesPerClient}; all = no cap)` },
  data: { field: 'dataDir', type: 'string', help: 'data directory (default Fashion-MNIST)' },
  'feature-dim': { field: 'featureDim', type: 'int', help: `d (default ${FLEET_DEFAULTS.featureDim})` },
  ratio: { field: 'ratio', type: 'number', help: `r (default ${FLEET_DEFAULTS.ratio})` },
  'value-type': { field: 'valueType', type: 'string', help: `${VALUE_TYPES.join(' | ')} (default ${FLEET_DEFAULTS.valueType})` },
  lambda: { field: 'lambda', type: 'number', help: `prototype loss weight (default ${EXPERIMENT_DEFAULTS.lambda})` },
  mu: { field: 'mu', type: 'number|auto', help: `TinyProto server scale (default ${EXPERIMENT_DEFAULTS.mu}: mu-factor * K / N, N from the agents' reported training-sample counts)` },
  'mu-factor': { field: 'muFactor', type: 'number', help: `factor of the automatic mu (default ${EXPERIMENT_DEFAULTS.muFactor})` },
  'mu-from': { field: 'muFrom', type: 'string', help: `where mu auto takes N from: reported (the agents' training-sample counts) | configured (--total-train-samples) (default ${EXPERIMENT_DEFAULTS.muFrom})` },
  'total-train-samples': { field: 'totalTrainSamples', type: 'int', help: "the configured total, checked against the agents' counts (default: the partition's total)" },
  lr: { field: 'lr', type: 'number', help: `SGD learning rate (default ${EXPERIMENT_DEFAULTS.lr})` },
  'batch-size': { field: 'batchSize', type: 'int', help: `batch size (default ${EXPERIMENT_DEFAULTS.batchSize})` },
  'local-epochs': { field: 'localEpochs', type: 'int', help: `local epochs per round (default ${EXPERIMENT_DEFAULTS.localEpochs})` },
  participation: { field: 'participation', type: 'number', help: `fraction of agents selected per round (default ${EXPERIMENT_DEFAULTS.participation})` },
  'min-uploads': { field: 'minUploads', type: 'int', help: `uploads needed to close a round at its deadline (default ${EXPERIMENT_DEFAULTS.minUploads})` },
  'offline-grace-ms': { field: 'offlineGraceMs', type: 'int', help: `how long a round waits for a selected agent that went offline (default ${EXPERIMENT_DEFAULTS.offlineGraceMs})` },
  'stale-rounds': { field: 'staleRounds', type: 'int', help: `a class with no contributor for this many rounds in a row loses its global prototype (default ${EXPERIMENT_DEFAULTS.staleRounds} = keep for ever, the paper)` },
  'close-at': { field: 'closeAt', type: 'int', help: 'over-selection: close a round as soon as this many of its selected agents uploaded (default none: wait for all)' },
  families: { field: 'families', type: 'list', help: `backbones by agent index mod count (default ${FAMILIES.join(',')})` },
  credentials: { field: 'credentials', type: 'string', help: 'credentials.json from broker-config/make-fleet-credentials.sh (default none)' },
  ca: { field: 'caFile', type: 'string', help: 'CA certificate for mqtts:// brokers (default none)' },
  'deadline-ms': { field: 'roundDeadlineMs', type: 'int', help: `round deadline (default ${FLEET_DEFAULTS.roundDeadlineMs})` },
  engine: { field: 'engine', type: 'string', help: `every agent's engine, ort | tfjs | auto: ${ENGINE_HELP}` },
  threads: { field: 'threads', type: 'int', help: 'ort: intra-op threads of each training session (default 0 = auto: 1, measured fastest)' },
  'train-threads': { field: 'trainThreads', type: 'int', help: 'ort: worker threads each agent splits a training batch over (default 0 = auto: 1)' },
  provider: { field: 'provider', type: 'string', help: 'ort: auto | cpu | cuda execution provider (default auto: cuda when available, else cpu)' },
  backend: { field: 'backend', type: 'string', help: 'tfjs: backend auto | tensorflow | wasm (default auto: tfjs-node if installed, else wasm)' },
  dashboard: { field: 'dashboardPort', type: 'int', help: 'live web dashboard on http://127.0.0.1:PORT/ (0 = any free port; no auth; default none)' },
  link: { field: 'link', type: 'string', help: `emulated link per agent: ${LINK_PROFILE_NAMES.join(' | ')}, optionally with custom values, e.g. wifi-good,latency=40ms,up=1mbit,stall=0.01,outage=30s+5s/60s (default none: direct; docs/link-emulation.md)` },
  board: { field: 'board', type: 'string', help: `emulated board per agent: ${EMULATED_BOARDS.join(' | ')}: cgroup CPU quota and memory limit (root), energy profile (default none)` },
  'host-speed': { field: 'hostImagesPerSec', type: 'number', help: 'with --board: this machine\'s one-core ResNet-8 training speed, images/s (default: measured at start, ~3 s)' },
};

export const FLEET_HELP = `Usage: tinyproto fleet [options]

Runs a local fleet: a broker (embedded aedes by default), the aggregator, and N agent processes
with heterogeneous backbones, each with its own SQLite store in the run directory. Shows a live
round table and ends with a summary (accuracy read from the agents' stores, and per round who
was selected, uploaded, offline or crashed). The experiment file's [[group]] tables give each
group of agents its own link, board and churn (offline rounds, crash-upload rounds; the churn
happens to the real agent processes): docs/fleet-churn.md.

${EXPERIMENT_FILE_HELP}
${flagHelp(FLEET_FLAGS)}
  --verbose                show the agents' own output (default off)
  -h, --help
`;

export function fleetOptions(argv: string[], now = new Date()): { options: FleetOptions; verbose: boolean; help: boolean } {
  const { fields, extra } = parseFlags(argv, FLEET_FLAGS, { verbose: { type: 'boolean' }, 'experiment-file': { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  const stamp = now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const file = experimentFileFields(extra['experiment-file'] as string | undefined);
  const merged: Record<string, unknown> = { ...pickFields(file, FLEET_FILE_FIELDS), ...pickFields(file, FLEET_AGGREGATOR_FIELDS), ...fields };
  const aggregator: Record<string, unknown> = {};
  for (const k of FLEET_AGGREGATOR_FIELDS) {
    if (merged[k] !== undefined) aggregator[k] = merged[k];
    delete merged[k];
  }
  checkSetup(aggregator);
  const base = { ...FLEET_DEFAULTS, dir: `runs/fleet-${stamp}`, experiment: `fleet-${stamp}`, ...merged, ...(Object.keys(aggregator).length > 0 ? { aggregator } : {}) } as FleetOptions;
  // [[group]] tables: one plan per agent (its group's link, board and churn); agents = their sum
  const plans = file.groups ? fleetPlan({ agents: (merged['agents'] as number | undefined) ?? null, groups: file.groups, link: base.link ?? null, board: base.board ?? null }) : null;
  const o: FleetOptions = plans ? { ...base, agents: plans.length, plans } : base;
  if (!Number.isInteger(o.agents) || o.agents < 1 || o.agents > 256) throw new TinyProtoError('E_CONFIG', `--agents must be 1..256, got ${o.agents}`);
  if (!Number.isInteger(o.rounds) || o.rounds < 1) throw new TinyProtoError('E_CONFIG', `--rounds must be a positive integer, got ${o.rounds}`);
  if (o.broker !== 'embedded' && !/^(mqtts?|wss?):\/\//.test(o.broker)) throw new TinyProtoError('E_CONFIG', `--broker must be "embedded" or an mqtt:// / mqtts:// URL, got "${o.broker}"`);
  // method, alpha, seed, d, r, value type: the experiment setup's validation (E_CONFIG naming the field)
  checkSetup({ method: o.method, alpha: o.alpha, seed: o.seed, featureDim: o.featureDim, ratio: o.ratio, valueType: o.valueType });
  for (const f of o.families ?? []) if (!FAMILIES.includes(f)) throw new TinyProtoError('E_CONFIG', `unknown family ${f}; known: ${FAMILIES.join(', ')}`);
  validateEngineSettings(
    { engine: o.engine ?? 'auto', threads: o.threads ?? 0, trainThreads: o.trainThreads ?? 0, provider: o.provider ?? 'auto', backend: o.backend, allowCpu: false },
    'run the agents yourself with --allow-cpu',
  );
  assertValidId('experiment', o.experiment);
  if (o.dashboardPort !== undefined && o.dashboardPort !== null) parseDashboardPort(String(o.dashboardPort));
  checkFleetEmulation(o.link ?? null, o.board ?? null);
  if (o.hostImagesPerSec !== undefined && o.hostImagesPerSec !== null && !(o.hostImagesPerSec > 0)) throw new TinyProtoError('E_CONFIG', `--host-speed must be > 0 images/s, got ${o.hostImagesPerSec}`);
  return { options: o, verbose: extra['verbose'] === true, help: extra['help'] === true };
}

export async function runFleetCommand(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const { options, verbose, help } = fleetOptions(argv);
  if (help) {
    out(FLEET_HELP);
    return 0;
  }
  out(`fleet: ${options.agents} agents, ${options.rounds} rounds, ${options.method}, broker ${options.broker}, run directory ${options.dir}`);
  for (const g of groupLines(options)) out(g);
  const bar = progressBar();
  const t0 = Date.now();
  const telemetry = new Map<number, RoundTelemetry[]>();
  /** Uploads counted per round: the agents whose telemetry of the round completes its line (offline or crashed agents send none). */
  const selected = new Map<number, number>();
  let shownMu: number | null = null;
  const res = await runFleet(options, {
    logger,
    onReady: (info) => {
      const engine = info.engine === 'ort' ? `ort, ${info.threads} thread${info.threads === 1 ? '' : 's'} per agent` : `tfjs, backend ${options.backend}`;
      out(`broker ${info.brokerUrl}; mu ${info.mu === null ? 'n/a' : info.mu.toPrecision(3)}; engine ${engine}`);
      shownMu = info.mu;
      out(info.agents.map((a) => `  ${a.id}: ${a.family}, ${a.train} train / ${a.test} test samples`).join('\n'));
      out(ROUND_TABLE_HEADER);
    },
    onDashboard: (url) => out(`dashboard on ${url}`),
    onEmulation: (lines) => out(lines.join('\n')),
    onChurn: (e) => out(`  churn: ${churnText(e)}`),
    onRound: (r) => {
      selected.set(r.round, r.uploads);
      bar.clear();
      out(`${roundLine(r)}  ${etaText(t0, Date.now(), r.round, options.rounds)}`);
      if (r.mu !== null && r.mu !== shownMu) out(muLine(r));
      shownMu = r.mu ?? shownMu;
    },
    onUpload: (u) => bar.update(`round ${u.round}/${options.rounds} uploads`, u.accepted, u.expected),
    onTelemetry: (t) => {
      const list = (telemetry.get(t.round) ?? []).concat(t);
      telemetry.set(t.round, list);
      if (list.length !== (selected.get(t.round) ?? options.agents)) return;
      bar.clear();
      const n = list.reduce((a, x) => a + (x.accuracy?.testCount ?? 0), 0) || 1;
      const head = list.reduce((a, x) => a + (x.accuracy ? x.accuracy.head * x.accuracy.testCount : 0), 0) / n;
      const protoKnown = list.every((x) => x.accuracy?.prototype !== null && x.accuracy !== null);
      const proto = protoKnown ? list.reduce((a, x) => a + x.accuracy!.prototype! * x.accuracy!.testCount, 0) / n : null;
      const joules = list.reduce((a, x) => a + x.energy.joules, 0);
      const rss = Math.max(...list.map((x) => x.memory.peakRssBytes)) / 2 ** 20;
      const sources = [...new Set(list.map((x) => x.energy.source))].join('/');
      out(`      round ${t.round} telemetry: accuracy head ${pct(head)}, proto ${pct(proto)}; energy ${joules.toFixed(1)} J (${sources}); peak RSS ${rss.toFixed(0)} MB`);
    },
    onRejected: (r) => out(`  rejected ${r.agent ?? '?'} round ${r.round ?? '?'}: ${r.code}`),
    onConnectionError: (member, line) => out(`  ${member}: ${line}`),
    onAgentLine: (agent, line) => {
      if (verbose || / error |failed|exited/.test(line)) out(`  ${agent}| ${line}`);
    },
  });
  out('\nsummary');
  out(
    textTable(
      ['round', 'uploads', 'bytes in', 'global B', 'acc (head)', 'acc (proto)', 'agents evaluated', 'time'],
      res.rounds.map((r) => [
        String(r.round),
        `${r.uploads}/${r.selected}`,
        bytes(r.bytesIn),
        String(r.globalBytes),
        pct(r.accuracyHead),
        pct(r.accuracyPrototype),
        String(r.evaluatedBy),
        `${r.seconds.toFixed(1)} s`,
      ]),
    ),
  );
  if (res.links.length > 0) {
    const sum = (f: (l: (typeof res.links)[number]) => number): number => res.links.reduce((x, l) => x + f(l), 0);
    out(`through the link emulators: ${bytes(sum((l) => l.upBytes))} up, ${bytes(sum((l) => l.downBytes))} down, ${sum((l) => l.stalls)} retransmission stalls, ${sum((l) => l.resets)} resets`);
  }
  out('participation');
  for (const l of participationLines(res.participation, res.crashes, options.agents)) out(`  ${l}`);
  if (res.churn.length > 0) out(`churn: ${res.churn.length} action(s): ${(['offline', 'rejoin', 'crash', 'restart'] as const).map((a) => `${res.churn.filter((e) => e.action === a).length} ${a}`).join(', ')}`);
  // a crash-upload round in which the agent did not upload (not selected, or offline) has nothing to interrupt
  const notApplied = (options.plans ?? []).flatMap((p) => p.crashUpload.filter((r) => r <= options.rounds && !res.churn.some((e) => e.action === 'crash' && e.agent === p.id && e.round === r)).map((r) => `${p.id} round ${r}`));
  if (notApplied.length > 0) out(`crash-upload not applied (the agent did not upload that round): ${notApplied.join(', ')}`);
  const rej = Object.entries(res.rejections);
  out(`rejected messages: ${rej.length ? rej.map(([k, v]) => `${k} x${v}`).join(', ') : 'none'}; ${res.seconds.toFixed(0)} s; stores in ${res.dir}`);
  return 0;
}

/** One line per [[group]]: its agents, link, board and churn schedule (none without groups). */
export function groupLines(o: Pick<FleetOptions, 'plans'>): string[] {
  const plans = o.plans ?? [];
  if (!plans.some((p) => p.group !== 'all')) return [];
  const groups = [...new Set(plans.map((p) => p.group))];
  return groups.map((g) => {
    const ps = plans.filter((p) => p.group === g);
    const p = ps[0]!;
    const churn = [
      ...(p.offline.length ? [`offline rounds ${p.offline.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}`] : []),
      ...(p.crashUpload.length ? [`crash mid-upload in round ${p.crashUpload.join(', ')}`] : []),
    ];
    return `  group ${g}: ${ps[0]!.id}..${ps[ps.length - 1]!.id}, link ${p.link ?? 'direct'}, board ${p.board ?? 'none'}${churn.length ? `, ${churn.join(', ')}` : ''}${hasChurn(ps) ? '' : ', no churn'}`;
  });
}

/** "agent-2 offline from round 3: stopped (pid 123)", "agent-4 killed (SIGKILL) while uploading round 2 (pid 124)". */
export function churnText(e: ChurnEvent): string {
  const pid = e.pid === null ? '' : ` (pid ${e.pid})`;
  switch (e.action) {
    case 'offline':
      return `${e.agent} offline from round ${e.round}${e.pid === null ? ' (not started)' : `: stopped${pid}`}`;
    case 'rejoin':
      return `${e.agent} rejoins in round ${e.round}: started${pid}`;
    case 'crash':
      return `${e.agent} killed (SIGKILL) while uploading round ${e.round}${pid}`;
    case 'restart':
      return `${e.agent} restarted after its crash in round ${e.round}${pid}`;
  }
}
