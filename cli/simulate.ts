/** `tinyproto simulate`: every client in one machine. */
import { writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import { METHODS, resolveSimConfig, SIM_DEFAULTS, type Method, type SimConfig } from '../sim/config.ts';
import { VALUE_TYPES } from '../wire/codec-types.ts';
import { simulate, type RoundRecord, type SimResult } from '../sim/simulate.ts';
import type { Family } from '../models/engine.ts';
import type { Logger } from '../common/logger.ts';
import { flagInt, flagList, flagNumber } from './args.ts';
import { bytes, pct, textTable } from '../common/table.ts';
import { progressBar } from './progress.ts';
import { etaText } from './eta.ts';
import { ENGINE_HELP } from '../learner/engine-settings.ts';
import { definedOnly, EXPERIMENT_FILE_HELP, experimentFileFields } from './experiment-file.ts';
import { pickFields, type ExperimentFileFields } from '../method/experiment-file.ts';
import { boardEmulation } from '../emulation/boards.ts';
import { isEmulatedBoard, resolveSimTiming } from './sim-timing.ts';
import { EXPERIMENT_DEFAULTS } from '../aggregator/config.ts';
import { IMPROVEMENT_HELP, IMPROVEMENT_OPTIONS, improvementFlags } from './improvement-flags.ts';

/** The experiment-file fields simulate takes (agents = its clients; fleet.board = the energy profile). */
const SIM_FILE_FIELDS = ['experiment', 'method', 'participation', 'agents', 'alpha', 'rounds', 'samplesPerClient', 'seed', 'dataDir', 'featureDim', 'ratio', 'lambda', 'batchSize', 'lr', 'localEpochs', 'mu', 'muFactor', 'families', 'valueType', 'staleRounds'] as const;
/** Fields of an experiment file that simulate uses only with simulated links and boards (or churn). */
const SIM_IGNORED = ['roundDeadlineMs', 'minUploads', 'closeAt', 'link'] as const;

function simFileOptions(file: ExperimentFileFields): { options: Partial<SimConfig>; ignored: string[] } {
  const options = pickFields(file, SIM_FILE_FIELDS, { agents: 'clients' }) as Partial<SimConfig>;
  const board = file.board === undefined ? {} : { board: boardEmulation(file.board).board };
  const keyOf = { roundDeadlineMs: 'round.deadline-ms', minUploads: 'round.min-uploads', closeAt: 'round.close-at', link: 'fleet.link' } as const;
  return { options: { ...options, ...board }, ignored: SIM_IGNORED.filter((k) => file[k] !== undefined).map((k) => keyOf[k]) };
}

export const SIMULATE_HELP = `Usage: tinyproto simulate [options]

Runs a federated experiment with every client in this machine (clients spread over worker threads).

${EXPERIMENT_FILE_HELP}
                          (its agents = --clients, fleet.board = --board; with a link, a board or
                          churn in [fleet] or [[group]] tables, each client's round is timed on its
                          simulated link and board and rounds close by the aggregator's rules:
                          README "Simulated links and boards")
  --link SPEC             simulated link of every client without a group link: a profile of
                          tinyproto fleet --link, e.g. wifi-congested (default none: no delay)
  --deadline-ms MS        simulated round deadline (default ${EXPERIMENT_DEFAULTS.roundDeadlineMs}, the aggregator's)
  --min-uploads N         uploads a simulated round needs at its deadline (default ${EXPERIMENT_DEFAULTS.minUploads})
  --close-at K            over-selection: close a simulated round at its first K uploads (default none)
  --no-timing             ignore links, boards, churn and round rules: every selected client
                          uploads in time (default off)

  --method M              ${METHODS.join(' | ')}            (default ${SIM_DEFAULTS.method})
  --clients N             number of clients                        (default ${SIM_DEFAULTS.clients})
  --participation F       fraction of the clients selected each round, by the aggregator's rule
                          over agent-0..agent-(N-1) and --experiment (default ${SIM_DEFAULTS.participation})
  --experiment ID         the experiment id the selection hashes, as a fleet's (default ${SIM_DEFAULTS.experiment})
  --alpha A               Dirichlet label-skew concentration       (default ${SIM_DEFAULTS.alpha})
  --rounds R              communication rounds                     (default ${SIM_DEFAULTS.rounds})
  --samples-per-client M  cap each client's samples (before the 75/25 train/test split) (default all)
  --seed S                seed for partition, masks, init, order   (default ${SIM_DEFAULTS.seed})
  --data DIR              IDX (Fashion-MNIST/MNIST) or CIFAR-10 binary directory
                          (default /usr/share/datasets/fashion-mnist)
  --feature-dim D         d, prototype dimension                   (default ${SIM_DEFAULTS.featureDim})
  --ratio R               r, TinyProto mask sparsity ratio         (default ${SIM_DEFAULTS.ratio})
  --lambda L              weight of the prototype MSE term         (default ${SIM_DEFAULTS.lambda})
  --batch-size B          (default ${SIM_DEFAULTS.batchSize})   --lr LR (default ${SIM_DEFAULTS.lr})   --local-epochs E (default ${SIM_DEFAULTS.localEpochs})
  --mu MU|auto            TinyProto server scale; auto = mu-factor * K / training samples (default ${SIM_DEFAULTS.mu})
  --mu-factor F           factor of the automatic mu                (default ${SIM_DEFAULTS.muFactor})
  --families LIST         backbones assigned by client id mod count (default ${SIM_DEFAULTS.families.join(',')})
  --workers N             worker threads (0 = one per core)        (default ${SIM_DEFAULTS.workers})
  --engine E              ort | tfjs | auto: ${ENGINE_HELP}
  --threads N             ort: ONNX Runtime intra-op threads of each training session (default 0 = auto: 1, measured fastest)
  --train-threads N       ort: worker threads each client's training batch is split over (default 0 = auto: 1)
  --provider P            ort: auto | cpu | cuda execution provider (default auto: cuda when available, else cpu)
  --backend B             tfjs: auto | tensorflow | wasm | cpu     (default auto: tfjs-node if installed, else wasm)
  --allow-cpu             tfjs: permit the pure-JS cpu backend (under 1 image/s; debugging only; default off)
  --value-type T          ${VALUE_TYPES.join(' | ')}: how prototype values cross the wire (default ${SIM_DEFAULTS.valueType})
  --board NAME            board profile for energy estimates: auto (this machine), rpi3bplus, rpi4b,
                          rpi5, rpizero2w, jetson-nano, jetson-orin-nano, x86-generic (default ${SIM_DEFAULTS.board});
                          a board fleet emulates (rpizero2w, rpi4b, rpi5, jetson-orin-nano) also
                          times each client's training at that board's speed
  --prototype-scale S     server | local: use the global prototypes as received (the paper), or
                          rescaled to each client's own class-mean norm (an option; default ${SIM_DEFAULTS.prototypeScale})
  --prototype-aggregation A  scaled | mean: TinyProto with adaptive scaling (the paper: upload n_ij p_ij,
                          server mu * sum) or without it (upload p_ij, server mean) (default ${SIM_DEFAULTS.prototypeAggregation})
${IMPROVEMENT_HELP}  --eval-every K          evaluate every K rounds and always the last (default ${SIM_DEFAULTS.evalEvery})
  --plateau N             stop when N evaluations in a row improved neither best accuracy by more
                          than --plateau-delta (default ${SIM_DEFAULTS.plateau} = never)
  --plateau-delta F       improvement that counts, a fraction (default ${SIM_DEFAULTS.plateauDelta} = ${SIM_DEFAULTS.plateauDelta * 100} points)
  --checkpoint FILE       write a checkpoint (SQLite) after every round (default none)
  --resume                continue from --checkpoint FILE when it holds a run of the same setup
                          (raise --rounds to go further; default off)
  --json FILE             write the full result (config, per-round, per-client) as JSON (default none)
  --quiet                 print only the final summary (default off)
  -h, --help
`;

export function parseSimulateArgs(argv: string[]): { config: SimConfig; json?: string; quiet: boolean; help: boolean; ignored: string[] } {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      method: { type: 'string' },
      clients: { type: 'string' },
      participation: { type: 'string' },
      experiment: { type: 'string' },
      alpha: { type: 'string' },
      rounds: { type: 'string' },
      'samples-per-client': { type: 'string' },
      seed: { type: 'string' },
      data: { type: 'string' },
      'feature-dim': { type: 'string' },
      ratio: { type: 'string' },
      lambda: { type: 'string' },
      'batch-size': { type: 'string' },
      lr: { type: 'string' },
      'local-epochs': { type: 'string' },
      mu: { type: 'string' },
      'mu-factor': { type: 'string' },
      families: { type: 'string' },
      workers: { type: 'string' },
      engine: { type: 'string' },
      threads: { type: 'string' },
      'train-threads': { type: 'string' },
      provider: { type: 'string' },
      backend: { type: 'string' },
      'allow-cpu': { type: 'boolean' },
      'value-type': { type: 'string' },
      board: { type: 'string' },
      'prototype-scale': { type: 'string' },
      'prototype-aggregation': { type: 'string' },
      ...IMPROVEMENT_OPTIONS,
      'eval-every': { type: 'string' },
      plateau: { type: 'string' },
      'plateau-delta': { type: 'string' },
      checkpoint: { type: 'string' },
      resume: { type: 'boolean' },
      json: { type: 'string' },
      quiet: { type: 'boolean' },
      'experiment-file': { type: 'string' },
      link: { type: 'string' },
      'deadline-ms': { type: 'string' },
      'min-uploads': { type: 'string' },
      'close-at': { type: 'string' },
      'no-timing': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const mu = values.mu === undefined || values.mu === 'auto' ? values.mu : flagNumber('mu', values.mu);
  const fileFields = experimentFileFields(values['experiment-file']);
  const file = simFileOptions(fileFields);
  const flags: Partial<SimConfig> = {
    method: values.method as Method | undefined,
    clients: flagInt('clients', values.clients),
    participation: flagNumber('participation', values.participation),
    experiment: values.experiment,
    alpha: flagNumber('alpha', values.alpha),
    rounds: flagInt('rounds', values.rounds),
    samplesPerClient: flagInt('samples-per-client', values['samples-per-client']),
    seed: flagInt('seed', values.seed),
    dataDir: values.data,
    featureDim: flagInt('feature-dim', values['feature-dim']),
    ratio: flagNumber('ratio', values.ratio),
    lambda: flagNumber('lambda', values.lambda),
    batchSize: flagInt('batch-size', values['batch-size']),
    lr: flagNumber('lr', values.lr),
    localEpochs: flagInt('local-epochs', values['local-epochs']),
    mu: mu as number | 'auto' | undefined,
    muFactor: flagNumber('mu-factor', values['mu-factor']),
    families: flagList(values.families) as Family[] | undefined,
    workers: flagInt('workers', values.workers),
    engine: values.engine as SimConfig['engine'] | undefined,
    threads: flagInt('threads', values.threads),
    trainThreads: flagInt('train-threads', values['train-threads']),
    provider: values.provider as SimConfig['provider'] | undefined,
    backend: values.backend as SimConfig['backend'] | undefined,
    allowCpu: values['allow-cpu'],
    valueType: values['value-type'] as SimConfig['valueType'] | undefined,
    board: values.board,
    ...improvementFlags(values),
    ...(values['prototype-scale'] === undefined ? {} : { prototypeScale: values['prototype-scale'] as SimConfig['prototypeScale'] }),
    ...(values['prototype-aggregation'] === undefined ? {} : { prototypeAggregation: values['prototype-aggregation'] as SimConfig['prototypeAggregation'] }),
    evalEvery: flagInt('eval-every', values['eval-every']),
    plateau: flagInt('plateau', values.plateau),
    plateauDelta: flagNumber('plateau-delta', values['plateau-delta']),
    checkpoint: values.checkpoint,
    resume: values.resume,
  };
  const given: Partial<SimConfig> = { ...file.options, ...definedOnly(flags) };
  // [[group]] tables without "agents": the clients are the groups' agents
  const merged: Partial<SimConfig> = fileFields.groups && given.clients === undefined ? { ...given, clients: fileFields.groups.reduce((a, g) => a + g.agents, 0) } : given;
  const base = resolveSimConfig(merged);
  const rules = { deadlineMs: flagInt('deadline-ms', values['deadline-ms']), minUploads: flagInt('min-uploads', values['min-uploads']), closeAt: flagInt('close-at', values['close-at']) };
  const timing = values['no-timing']
    ? null
    : resolveSimTiming({
        clients: base.clients,
        groups: fileFields.groups ?? null,
        link: values.link ?? fileFields.link ?? null,
        // the fleet-wide board: --board when it names an emulated board, else the file's
        board: values.board !== undefined ? (isEmulatedBoard(values.board) ? values.board : null) : (fileFields.board ?? null),
        deadlineMs: rules.deadlineMs ?? fileFields.roundDeadlineMs,
        minUploads: rules.minUploads ?? fileFields.minUploads,
        closeAt: rules.closeAt ?? fileFields.closeAt,
      });
  const config = timing ? resolveSimConfig({ ...merged, timing }) : base;
  const unused = [...(values.link !== undefined ? ['--link'] : []), ...Object.entries(rules).flatMap(([k, v]) => (v === undefined ? [] : [`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`]))];
  const groupChurn = (fileFields.groups ?? []).some((g) => g.link !== null || g.board !== null || g.offline.length > 0 || g.crashUpload.length > 0);
  const ignored = timing ? [] : [...file.ignored, ...unused, ...(groupChurn ? ['the [[group]] links, boards and churn'] : [])];
  return { config, ...(values.json ? { json: values.json } : {}), quiet: values.quiet ?? false, help: values.help ?? false, ignored };
}

export const ROUND_HEADER = ['round', 'acc (head)', 'acc (proto)', 'proto (own)', 'up B/client', 'down B/client', 'up msg B', 'loss', 'proto loss', 'energy J', 'peak RSS', 'time'];

export function roundRow(r: RoundRecord): string[] {
  return [
    String(r.round),
    pct(r.accuracyHead),
    pct(r.accuracyPrototype),
    pct(r.accuracyPrototypeOwn),
    r.bytesUpPerClient.toFixed(0),
    r.bytesDownPerClient.toFixed(0),
    r.messageBytesUpPerClient.toFixed(0),
    r.loss.toFixed(4),
    r.protoLoss.toFixed(4),
    r.clients.reduce((a, c) => a + c.telemetry.energy.joules, 0).toFixed(1),
    `${(Math.max(0, ...r.clients.map((c) => c.telemetry.memory.peakRssBytes)) / 2 ** 20).toFixed(0)} MB`,
    `${r.seconds.toFixed(1)}s`,
  ];
}

/** Extra columns with simulated links and boards: simulated round time, uploads in time, late, offline. */
export const TIMING_HEADER = ['sim time', 'in time', 'late', 'offline'];

export function timingCells(r: RoundRecord): string[] {
  const t = r.timing;
  if (!t) return TIMING_HEADER.map(() => '');
  const list = (xs: readonly number[]): string => {
    const text = [...xs].sort((a, b) => a - b).join(',');
    return xs.length === 0 ? '-' : text.length <= 12 ? text : `${xs.length} clients`;
  };
  return [`${t.seconds.toFixed(1)}s`, `${t.uploaded.length}/${r.selected.length}`, list(t.late), list(t.offline)];
}

/** What is simulated, one line per group of clients. */
export function timingText(config: SimConfig): string {
  const t = config.timing;
  if (!t) return '';
  const groups = new Map<string, { n: number; c: (typeof t.clients)[number] }>();
  for (const c of t.clients) groups.set(c.group, { n: (groups.get(c.group)?.n ?? 0) + 1, c });
  const lines = [...groups].map(([name, { n, c }]) => {
    const churn = [...(c.offline.length ? [`offline ${c.offline.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(',')}`] : []), ...(c.crashUpload.length ? [`crash-upload ${c.crashUpload.join(',')}`] : [])];
    return `  ${name} (${n}): link ${c.linkName ?? 'direct'}, board ${c.board === null ? 'none (training not timed)' : `${c.board} ${c.boardImagesPerSec!.toFixed(0)} images/s (ResNet-8)`}${churn.length ? `, ${churn.join(', ')}` : ''}`;
  });
  return (
    `simulated links and boards: deadline ${t.deadlineMs / 1000} s (at most ${t.maxExtensions} extensions), min uploads ${t.minUploads}` +
    `${t.closeAt !== null ? `, close at the first ${t.closeAt}` : ''}; offline grace ${t.offlineGraceMs / 1000} s, crash restart ${t.restartMs / 1000} s\n${lines.join('\n')}\n`
  );
}

/** e.g. "ort/cpu (2 threads per worker)", "tfjs/wasm". */
export function engineText(info: Pick<SimResult, 'models' | 'threads'>): string {
  const m = info.models[0];
  if (!m) return 'none';
  return `${m.engine}/${m.backend}` + (m.engine === 'ort' ? ` (${info.threads} thread${info.threads === 1 ? '' : 's'} per worker)` : '');
}

/** e.g. "3 client-round(s) did not train (E_DIVERGED; weights restored, nothing uploaded): client 4 in rounds 131, 132, 133". */
function failedText(rounds: readonly RoundRecord[]): string {
  const byClient = new Map<number, number[]>();
  const codes = new Set<string>();
  let count = 0;
  for (const r of rounds) for (const f of r.failed ?? []) {
    byClient.set(f.client, [...(byClient.get(f.client) ?? []), f.round]);
    codes.add(f.code);
    count++;
  }
  const list = [...byClient].sort((a, b) => a[0] - b[0]).map(([c, rs]) => `client ${c} in round${rs.length === 1 ? '' : 's'} ${rs.slice(0, 6).join(', ')}${rs.length > 6 ? ` and ${rs.length - 6} more` : ''}`);
  return `${count} client-round(s) did not train (${[...codes].join(', ')}; weights restored, nothing uploaded): ${list.join('; ')}`;
}

export function summaryText(res: SimResult): string {
  const s = res.summary;
  return [
    `method ${res.config.method}: best acc (head) ${pct(s.best.accuracyHead)} at round ${s.best.roundHead}, ` +
      `best acc (proto) ${pct(s.best.accuracyPrototype)}${s.best.roundPrototype ? ` at round ${s.best.roundPrototype}` : ''}`,
    `last round: acc (head) ${pct(s.last.accuracyHead)}, acc (proto) ${pct(s.last.accuracyPrototype)}, proto among own classes ${pct(s.last.accuracyPrototypeOwn)} (best ${pct(s.bestPrototypeOwn)})`,
    `payload per client per round: up ${bytes(s.meanBytesUpPerClientRound)}, down ${bytes(s.meanBytesDownPerClientRound)}; ` +
      `total up ${bytes(s.totalBytesUp)}, down ${bytes(s.totalBytesDown)}; ${res.seconds.toFixed(0)} s` +
      (res.resumedFrom !== null ? ` (continued from the checkpoint of round ${res.resumedFrom})` : ''),
    ...(s.timing
      ? [
          `simulated time ${s.timing.totalSeconds.toFixed(1)} s; round time p50 ${s.timing.p50.toFixed(1)} s / p95 ${s.timing.p95.toFixed(1)} s; ` +
            `${s.timing.lateUploads} late upload(s)${s.timing.stragglers.length ? ` (stragglers: ${s.timing.stragglers.slice(0, 8).map((x) => `client ${x.client} x${x.rounds}`).join(', ')})` : ''}; ${s.timing.offlineClientRounds} offline client-round(s)`,
        ]
      : []),
    ...((s.failedClientRounds ?? 0) > 0 ? [failedText(res.rounds)] : []),
    ...(res.stopped.reason === 'plateau' ? [`stopped at round ${res.stopped.round}: ${res.config.plateau} evaluations without an improvement over ${pct(res.config.plateauDelta)}`] : []),
  ].join('\n');
}

/** Runs the command; returns the process exit code. */
export async function runSimulate(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const { config, json, quiet, help, ignored } = parseSimulateArgs(argv);
  if (help) {
    out(SIMULATE_HELP);
    return 0;
  }
  if (ignored.length > 0) logger.warn(`simulate ignores ${ignored.join(', ')}: no link, board or churn to time (or --no-timing), so every selected client uploads in time`);
  const header = config.timing ? [...ROUND_HEADER, ...TIMING_HEADER] : ROUND_HEADER;
  const row = (r: RoundRecord): string[] => (config.timing ? [...roundRow(r), ...timingCells(r)] : roundRow(r));
  const widths = header.map((h) => Math.max(h.length, 12));
  const fmt = (cells: string[]): string => cells.map((c, i) => c.padStart(widths[i]!)).join(' ');
  const bar = progressBar();
  const t0 = Date.now();
  let first: number | undefined;
  const result = await simulate(config, {
    logger,
    onProgress: (round, done, total) => {
      if (!quiet) bar.update(`round ${round}/${config.rounds} training`, done, total);
    },
    onReady: (info) => {
      if (quiet) return;
      const fams = new Map<string, { n: number; params: number; flops: number }>();
      for (const m of info.models) fams.set(m.family, { n: (fams.get(m.family)?.n ?? 0) + 1, params: m.paramCount, flops: m.flopsPerImage });
      out(
        `data: ${info.dataset.name} (${info.dataset.count} images ${info.dataset.shape.join('x')}, ${info.dataset.numClasses} classes) from ${info.dataset.dir}\n` +
          `method ${config.method}, ${config.clients} clients, Dir(${config.alpha}), ${config.rounds} rounds, d=${config.featureDim}` +
          (info.masks ? `, r=${config.ratio} (s=${info.masks.s} values per class), mu=${info.mu?.toPrecision(3)}` : '') +
          `, lambda=${config.lambda}, batch ${config.batchSize}, lr ${config.lr}, ${info.workers} worker(s), engine ${engineText(info)}\n` +
          (config.samplesPerClient ? `cap: at most ${config.samplesPerClient} samples per client\n` : '') +
          textTable(
            ['family', 'clients', 'params', 'MFLOP/img'],
            [...fams].map(([f, v]) => [f, String(v.n), String(v.params), (v.flops / 1e6).toFixed(2)]),
          ) +
          `\nclients: ${info.clients.map((c) => `${c.client}:${c.family}[${c.train}/${c.test}; classes ${c.classes.join(',')}]`).join(' ')}\n` +
          timingText(config),
      );
      out(fmt(header));
    },
    onRound: (r) => {
      bar.clear();
      // this invocation's rounds: a resumed run estimates from where it continued
      first ??= r.round - 1;
      if (!quiet) out(`${fmt(row(r))}  ${etaText(t0, Date.now(), r.round - first, config.rounds - first)}`);
    },
  });
  out(summaryText(result));
  if (json) {
    mkdirSync(dirname(json), { recursive: true });
    writeFileSync(json, JSON.stringify(result, null, 1));
    out(`wrote ${json}`);
  }
  return 0;
}
