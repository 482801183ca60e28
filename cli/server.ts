/** `tinyproto server`: the aggregator. */
import { agentIds } from '../method/fleet-plan.ts';
import { readFileSync } from 'node:fs';
import { Aggregator, type PartialAccepted, type RoundClosed, type UploadRejected } from '../aggregator/aggregator.ts';
import { EXPERIMENT_DEFAULTS, resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { signingAggregatorTransport } from '../aggregator/signing.ts';
import { AgentAuthentication, readAgentKeysFile } from '../aggregator/authenticity.ts';
import { MqttAggregatorTransport, type AggregatorConnection } from '../aggregator/transport.ts';
import { parseDashboardPort, startDashboard, type Dashboard } from '../dashboard/server.ts';
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import type { MqttVersionChoice } from '../mqtt/options.ts';
import { flagHelp, parseFlags, type FlagTable } from './flags.ts';
import { bytes } from '../common/table.ts';
import { METHODS } from '../method/method.ts';
import { VALUE_TYPES } from '../wire/codec-types.ts';
import { BATCH_DEFAULTS, commitPolicy } from '../aggregator/batch.ts';
import type { CommitPolicy } from '../aggregator/aggregator.ts';
import { EXPERIMENT_FILE_HELP, experimentFileFields } from './experiment-file.ts';
import { pickFields } from '../method/experiment-file.ts';
import { announceToFleet, FLEET_DEFAULTS, resolveFleetSpec, type FleetSpec } from '../aggregator/fleet-announce.ts';
import { flagInt, flagList, flagNumber } from './args.ts';
import { assertValidId } from '../wire/topics.ts';
import { openAggregatorSide } from './server-start.ts';

export const SERVER_FLAGS: FlagTable = {
  experiment: { field: 'experiment', type: 'string', help: `experiment id (default ${EXPERIMENT_DEFAULTS.experiment})` },
  method: { field: 'method', type: 'string', help: `${METHODS.join(' | ')} (default ${EXPERIMENT_DEFAULTS.method})` },
  agents: { field: 'agents', type: 'list', help: 'agent ids taking part, or a count N for agent-0..agent-(N-1) (required)' },
  rounds: { field: 'rounds', type: 'int', help: `rounds (default ${EXPERIMENT_DEFAULTS.rounds})` },
  classes: { field: 'numClasses', type: 'int', help: `K (default ${EXPERIMENT_DEFAULTS.numClasses})` },
  'feature-dim': { field: 'featureDim', type: 'int', help: `d (default ${EXPERIMENT_DEFAULTS.featureDim})` },
  ratio: { field: 'ratio', type: 'number', help: `r, mask sparsity (default ${EXPERIMENT_DEFAULTS.ratio})` },
  mu: { field: 'mu', type: 'number|auto', help: `TinyProto scale; auto = mu-factor * K / N, N from the agents' reported training-sample counts (default ${EXPERIMENT_DEFAULTS.mu})` },
  'mu-factor': { field: 'muFactor', type: 'number', help: `factor of the automatic mu (default ${EXPERIMENT_DEFAULTS.muFactor})` },
  'total-train-samples': { field: 'totalTrainSamples', type: 'int', help: "the fleet's total training samples, as you know it: checked against the agents' reported counts (a warning beyond 10%), used before any is reported, or always with --mu-from configured (default none)" },
  'mu-from': { field: 'muFrom', type: 'string', help: `where mu auto takes N from: reported (the sum of the agents' counts) | configured (--total-train-samples) (default ${EXPERIMENT_DEFAULTS.muFrom})` },
  lambda: { field: 'lambda', type: 'number', help: `prototype loss weight (default ${EXPERIMENT_DEFAULTS.lambda})` },
  lr: { field: 'lr', type: 'number', help: `SGD learning rate (default ${EXPERIMENT_DEFAULTS.lr})` },
  'batch-size': { field: 'batchSize', type: 'int', help: `batch size (default ${EXPERIMENT_DEFAULTS.batchSize})` },
  'local-epochs': { field: 'localEpochs', type: 'int', help: `local epochs per round (default ${EXPERIMENT_DEFAULTS.localEpochs})` },
  participation: { field: 'participation', type: 'number', help: `fraction of agents selected per round (default ${EXPERIMENT_DEFAULTS.participation})` },
  'deadline-ms': { field: 'roundDeadlineMs', type: 'int', help: `round deadline in ms (default ${EXPERIMENT_DEFAULTS.roundDeadlineMs})` },
  'min-uploads': { field: 'minUploads', type: 'int', help: `uploads needed to close a round at its deadline (default ${EXPERIMENT_DEFAULTS.minUploads})` },
  'close-at': { field: 'closeAt', type: 'int', help: 'over-selection: close a round as soon as this many of its selected agents uploaded (default none: wait for all)' },
  'max-extensions': { field: 'maxDeadlineExtensions', type: 'int', help: `deadline extensions of a round below --min-uploads before it closes with what it has (default ${EXPERIMENT_DEFAULTS.maxDeadlineExtensions})` },
  'offline-grace-ms': { field: 'offlineGraceMs', type: 'int', help: `how long a round waits for a selected agent that went offline (default ${EXPERIMENT_DEFAULTS.offlineGraceMs})` },
  'stale-rounds': { field: 'staleRounds', type: 'int', help: `a class with no contributor for this many rounds in a row loses its global prototype (default ${EXPERIMENT_DEFAULTS.staleRounds} = keep for ever, the paper)` },
  'value-type': { field: 'valueType', type: 'string', help: `${VALUE_TYPES.join(' | ')} (wire encoding of prototypes; default ${EXPERIMENT_DEFAULTS.valueType})` },
  seed: { field: 'seed', type: 'int', help: `experiment seed: class masks (as simulate and fleet derive them) and participant selection (default ${EXPERIMENT_DEFAULTS.seed})` },
};

export const SERVER_HELP = `Usage: tinyproto server [--config FILE] [options]

The aggregator: fixes the class masks, announces rounds, validates and stores uploads in SQLite,
publishes the global prototypes. Killed and restarted with the same store, it resumes the same
experiment at the same round. Exits when the last round has closed.

${EXPERIMENT_FILE_HELP}
                           (its agents N = agent-0..agent-(N-1); data, families, link and board
                           are the agents' matters)
  --config FILE            JSON experiment config (field names as in aggregator/config.ts; over
                           the experiment file, under the flags) (default none)
  --store FILE             SQLite file (default tinyproto-server.db)
  --broker URL             mqtt:// or mqtts:// (default mqtt://127.0.0.1:1883), or "embedded": start
                           the embedded MQTT 3.1.1 broker (aedes, as fleet does) in this process
  --embedded-port P        port of the embedded broker on 127.0.0.1 (default 1883; 0 = any free)
  --commit-batch N         group commit: at most N messages per transaction (default ${BATCH_DEFAULTS.maxBatch})
  --commit-delay-ms MS     group commit: commit MS after a batch's first message (default
                           ${BATCH_DEFAULTS.maxDelayMs} = as soon as the messages already received are handled)
  --hold-acks on|off       PUBACK agent messages only once committed (default on)
  --username U / --password P (or TINYPROTO_PASSWORD) / --ca FILE / --cert FILE / --key FILE
                           (default none)
  --mqtt-version V         auto | 5 | 3.1.1 (default auto)
  --dashboard PORT         live web dashboard on http://127.0.0.1:PORT/ (0 = any free port; loopback
                           only, no authentication: from another machine use an SSH tunnel; default none)
  --telemetry-wait-ms MS   after the last round, wait up to MS for the agents' telemetry of it
                           (default 30000)
  --signing-key FILE       Ed25519 private key (PEM) that signs MASKS, ROUND, GLOBAL and RECEIPT
                           (default: a key generated on the first start and kept in the store)
  --agent-keys FILE        JSON {agentId: public key hex}: the agents' (and relays') keys (default:
                           each one's key is pinned on its first signed message)
  --relays IDS             relays (tinyproto relay --id) whose partial sums count, comma-separated
                           (default none: direct uploads only; both work together)
  --fleet F                announce the experiment to fleet F's long-lived agents (\`tinyproto agent
                           --fleet F\`), retained on tinyproto/fleet/F/experiment/{experiment}, and
                           mark it ended when it finishes (default none: agents are configured in full)
  --dataset NAME           --fleet: the data set the agents carve their shards from (default ${FLEET_DEFAULTS.dataset})
  --source KIND            --fleet: idx | cifar | image-folder (default ${FLEET_DEFAULTS.source})
  --clients N              --fleet: shards the data set is split into (default: the number of agents)
  --alpha A                --fleet: Dirichlet label skew (default ${FLEET_DEFAULTS.alpha}, or the experiment file's)
  --samples-per-client N   --fleet: cap per shard, N or all (default all, or the experiment file's)
  --families A,B,..        --fleet: backbone per agent, cycled (default: by client index, or the experiment file's)
  --print-key              print the aggregator's public key (what agents pin or configure) and exit (default off)
  --broker, --username, --password, --fleet: default from TINYPROTO_BROKER, TINYPROTO_USERNAME,
                           TINYPROTO_PASSWORD, TINYPROTO_FLEET
${flagHelp(SERVER_FLAGS)}
  -h, --help
`;

const CONNECTION_FLAGS = {
  config: { type: 'string' },
  'experiment-file': { type: 'string' },
  store: { type: 'string' },
  broker: { type: 'string' },
  username: { type: 'string' },
  password: { type: 'string' },
  ca: { type: 'string' },
  cert: { type: 'string' },
  key: { type: 'string' },
  'mqtt-version': { type: 'string' },
  dashboard: { type: 'string' },
  'telemetry-wait-ms': { type: 'string' },
  'signing-key': { type: 'string' },
  'agent-keys': { type: 'string' },
  relays: { type: 'string' },
  'print-key': { type: 'boolean' },
  fleet: { type: 'string' },
  dataset: { type: 'string' },
  source: { type: 'string' },
  clients: { type: 'string' },
  alpha: { type: 'string' },
  'samples-per-client': { type: 'string' },
  families: { type: 'string' },
  'embedded-port': { type: 'string' },
  'commit-batch': { type: 'string' },
  'commit-delay-ms': { type: 'string' },
  'hold-acks': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

export interface ServerArgs {
  experiment: ExperimentConfig;
  connection: AggregatorConnection;
  store: string;
  /** Port of the web dashboard; null = no dashboard. */
  dashboard: number | null;
  /** How long to wait for the last round's telemetry before exiting. */
  telemetryWaitMs: number;
  signingKey: string | null;
  agentKeys: string | null;
  /** --relays: relay ids whose PARTIALs count. */
  relays: string[];
  printKey: boolean;
  help: boolean;
  /** --broker embedded: the port of the in-process broker; null for an external broker. */
  embeddedPort: number | null;
  commit: CommitPolicy;
  /** --fleet: the announcement's settings; null = no fleet announcement. */
  fleet: FleetSpec | null;
}

function intFlag(name: string, text: string | null, fallback: number, min: number, max: number): number {
  if (text === null) return fallback;
  const v = Number(text);
  if (!/^\d+$/.test(text) || v < min || v > max) throw new TinyProtoError('E_CONFIG', `--${name} must be an integer from ${min} to ${max}, got "${text}"`);
  return v;
}

/** --broker embedded / --embedded-port, --commit-*, --hold-acks. */
function scaleArgs(str: (k: string) => string | null): { embeddedPort: number | null; commit: CommitPolicy; holdAcks: boolean } {
  const embeddedPort = str('broker') === 'embedded' ? intFlag('embedded-port', str('embedded-port'), 1883, 0, 65535) : null;
  const commit = commitPolicy({
    maxBatch: intFlag('commit-batch', str('commit-batch'), BATCH_DEFAULTS.maxBatch, 1, 100_000),
    maxDelayMs: intFlag('commit-delay-ms', str('commit-delay-ms'), BATCH_DEFAULTS.maxDelayMs, 0, 1000),
  });
  const hold = str('hold-acks') ?? 'on';
  if (hold !== 'on' && hold !== 'off') throw new TinyProtoError('E_CONFIG', `--hold-acks must be on or off, got "${hold}"`);
  return { embeddedPort, commit, holdAcks: hold === 'on' };
}

/** The experiment-file fields the aggregator takes (agents separately: a count becomes ids). */
const SERVER_FILE_FIELDS = ['experiment', 'method', 'rounds', 'seed', 'featureDim', 'ratio', 'lambda', 'mu', 'muFactor', 'muFrom', 'totalTrainSamples', 'valueType', 'lr', 'batchSize', 'localEpochs', 'participation', 'roundDeadlineMs', 'minUploads', 'closeAt', 'offlineGraceMs', 'staleRounds'] as const;


export function serverArgs(argv: string[], env: NodeJS.ProcessEnv): ServerArgs {
  const { fields, extra } = parseFlags(argv, SERVER_FLAGS, { ...CONNECTION_FLAGS });
  const str = (k: string): string | null => (typeof extra[k] === 'string' ? (extra[k] as string) : null);
  const scale = scaleArgs(str);
  const connection: AggregatorConnection = {
    broker: (str('broker') === 'embedded' ? null : str('broker')) ?? env['TINYPROTO_BROKER'] ?? 'mqtt://127.0.0.1:1883',
    holdAcks: scale.holdAcks,
    username: str('username') ?? env['TINYPROTO_USERNAME'] ?? null,
    password: str('password') ?? env['TINYPROTO_PASSWORD'] ?? null,
    caFile: str('ca'),
    certFile: str('cert'),
    keyFile: str('key'),
    mqttVersion: (str('mqtt-version') ?? 'auto') as MqttVersionChoice,
  };
  const dashboard = str('dashboard') === null ? null : parseDashboardPort(str('dashboard')!);
  const waitText = str('telemetry-wait-ms') ?? '30000';
  const telemetryWaitMs = Number(waitText);
  if (!/^\d+$/.test(waitText) || telemetryWaitMs > 3_600_000) throw new TinyProtoError('E_CONFIG', `--telemetry-wait-ms must be an integer from 0 to 3600000, got "${waitText}"`);
  const relays = (str('relays') ?? '').split(',').filter((r) => r !== '');
  for (const r of relays) assertValidId('agent', r);
  const keys = { signingKey: str('signing-key'), agentKeys: str('agent-keys'), relays, printKey: extra['print-key'] === true, embeddedPort: scale.embeddedPort, commit: scale.commit, fleet: null };
  if (extra['help']) return { experiment: EXPERIMENT_DEFAULTS, connection, store: '', dashboard, telemetryWaitMs, ...keys, help: true };
  if (keys.printKey) return { experiment: EXPERIMENT_DEFAULTS, connection, store: str('store') ?? 'tinyproto-server.db', dashboard, telemetryWaitMs, ...keys, help: false };
  let file: Record<string, unknown> = {};
  const path = str('config');
  if (path) {
    try {
      file = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new TinyProtoError('E_CONFIG', `${path}: cannot read the experiment config (${(e as Error).message})`);
    }
  }
  const expFile = experimentFileFields(str('experiment-file'));
  const fromExpFile = pickFields(expFile, SERVER_FILE_FIELDS);
  // the file's agents, else its [[group]] tables' sum (the fleet's agent-0..agent-(N-1))
  const fileAgents = expFile.agents ?? expFile.groups?.reduce((a, g) => a + g.agents, 0);
  if (fileAgents !== undefined) fromExpFile['agents'] = agentIds(fileAgents);
  const agents = fields['agents'] as string[] | undefined;
  if (agents && agents.length === 1 && /^\d+$/.test(agents[0]!)) fields['agents'] = agentIds(Number(agents[0]));
  const experiment = resolveExperimentConfig({ ...fromExpFile, ...file, ...fields } as Partial<ExperimentConfig>);
  // a relay seals its site's round on its own schedule: a coordinator closing at the first K could
  // refuse a relay's partial after the relay had receipted its agents' uploads
  if (experiment.closeAt !== null && relays.length > 0) throw new TinyProtoError('E_CONFIG', '--close-at (over-selection) cannot be combined with --relays: a round closed at the first K uploads would refuse partial sums that relays had already receipted to their agents');
  const fleet = fleetArgs(str, expFile, env);
  return { experiment, connection, store: str('store') ?? 'tinyproto-server.db', dashboard, telemetryWaitMs, ...keys, fleet, help: false };
}

/** --fleet and its data-set flags (over the experiment file's data section and families). */
function fleetArgs(str: (k: string) => string | null, expFile: ReturnType<typeof experimentFileFields>, env: NodeJS.ProcessEnv): FleetSpec | null {
  const fleet = str('fleet') ?? env['TINYPROTO_FLEET'] ?? null;
  if (fleet === null) return null;
  const cap = str('samples-per-client');
  return resolveFleetSpec({
    fleet,
    ...(str('dataset') !== null ? { dataset: str('dataset')! } : {}),
    ...(str('source') !== null ? { source: str('source') as FleetSpec['source'] } : {}),
    ...(str('clients') !== null ? { clients: flagInt('clients', str('clients')!) } : {}),
    alpha: str('alpha') !== null ? flagNumber('alpha', str('alpha')!) : expFile.alpha,
    samplesPerClient: cap !== null ? (cap === 'all' ? null : flagInt('samples-per-client', cap)) : expFile.samplesPerClient,
    families: str('families') !== null ? flagList(str('families')!) : expFile.families,
  } as Partial<FleetSpec> & { fleet: string });
}

export const ROUND_TABLE_HEADER = 'round  uploads  bytes in   global B  classes  time';

export function roundLine(r: RoundClosed): string {
  return `${String(r.round).padStart(5)}  ${`${r.uploads}/${r.selected}`.padStart(7)}  ${bytes(r.bytesIn).padStart(8)}  ${String(r.globalBytes).padStart(9)}  ${String(r.classesWithGlobal).padStart(7)}  ${r.seconds.toFixed(1).padStart(5)} s`;
}

/** A round's mu and where its N came from (printed when it differs from the previous round's). */
export function muLine(r: RoundClosed): string {
  const n = r.totalTrainSamples === null ? '' : `N = ${Number.isInteger(r.totalTrainSamples) ? r.totalTrainSamples : r.totalTrainSamples.toFixed(1)}, `;
  return `      round ${r.round} mu ${r.mu === null ? 'n/a' : r.mu.toPrecision(3)} (${n}${r.muSource ?? 'n/a'})`;
}

export async function runServer(argv: string[], out: (s: string) => void, logger: Logger): Promise<number> {
  const args = serverArgs(argv, process.env);
  if (args.help) {
    out(SERVER_HELP);
    return 0;
  }
  const opened = await openAggregatorSide(args, logger, out);
  if (opened === null) return 0;
  const { store, key, broker, connection } = opened;
  const mqttTransport = new MqttAggregatorTransport(args.experiment.experiment, connection, logger);
  const auth = new AgentAuthentication({
    store,
    experiment: args.experiment.experiment,
    agents: [...args.experiment.agents, ...args.relays],
    keys: args.agentKeys ? readAgentKeysFile(args.agentKeys) : null,
    logger,
  });
  const transport = auth.wrap(signingAggregatorTransport(mqttTransport, key.signer));
  const aggregator = new Aggregator({ config: args.experiment, store, transport, logger, commit: args.commit, relays: args.relays });
  auth.onRefused((r) => out(`refused ${r.agent ?? '?'} round ${r.round ?? '?'}: ${r.code} ${r.message}`));
  out(`aggregator key ${key.publicKey} (${key.source}; agents pin it on first contact or take it with --aggregator-key)`);
  aggregator.on('roundOpened', (r: { round: number; selected: string[]; resumed: boolean }) =>
    out(`round ${r.round} ${r.resumed ? 'resumed' : 'opened'}: ${r.selected.length} agent(s) selected`),
  );
  let shownMu: number | null = null;
  aggregator.on('roundClosed', (r: RoundClosed) => {
    out(roundLine(r));
    if (r.mu !== null && r.mu !== shownMu) out(muLine(r));
    shownMu = r.mu ?? shownMu;
  });
  aggregator.on('muWarning', (w: { message: string }) => out(`warning: ${w.message}`));
  aggregator.on('partial', (p: PartialAccepted) => out(`partial of round ${p.round} from ${p.relay}: ${p.agents} upload(s), ${p.accepted}/${p.expected} counted`));
  aggregator.on('rejected', (r: UploadRejected) => out(`rejected ${r.agent ?? '?'} round ${r.round ?? '?'}: ${r.code} ${r.message}`));
  // the transport retries its first connection for ever (each failure logged, classified):
  // a signal while it is still connecting closes it, which ends start()
  const stop = (): void => {
    void aggregator.stop();
    if (transport.protocolVersion === null) void transport.close();
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let dashboard: Dashboard | null = null;
  try {
    if (args.dashboard !== null) {
      dashboard = await startDashboard({ aggregator, store, port: args.dashboard, logger });
      out(`dashboard on ${dashboard.url}`);
    }
    await mqttTransport.start();
    out(`aggregator for "${args.experiment.experiment}" (${args.experiment.method}) connected to ${connection.broker} (MQTT ${mqttTransport.protocolVersion === 5 ? '5' : '3.1.1'})`);
    const fleet = args.fleet;
    let ended = store.getExperiment(args.experiment.experiment)?.status === 'finished';
    if (fleet !== null) {
      const announce = (): Promise<void> => announceToFleet(transport, args.experiment, fleet, ended ? 'ended' : 'open', 'aggregator');
      // a broker restarted without its state lost the retained announcement: publish it again
      mqttTransport.onConnect(() => void announce().catch((e: unknown) => logger.warn('fleet announcement not published', { error: (e as Error).message })));
      await announce();
      out(`announced "${args.experiment.experiment}" to fleet "${fleet.fleet}" (${fleet.dataset}, ${fleet.source}, ${fleet.clients ?? args.experiment.agents.length} clients)`);
    }
    await aggregator.start();
    out(ROUND_TABLE_HEADER);
    await aggregator.done;
    const missing = await aggregator.awaitFinalTelemetry(args.telemetryWaitMs);
    if (missing.length > 0) out(`no telemetry of the last round from ${missing.join(', ')} after ${args.telemetryWaitMs} ms`);
    if (fleet !== null) {
      ended = true;
      await announceToFleet(transport, args.experiment, fleet, 'ended', 'aggregator');
      out(`fleet "${fleet.fleet}": "${args.experiment.experiment}" marked ended`);
    }
    const counts = store.rejectionCounts(args.experiment.experiment);
    out(`finished: ${store.rounds(args.experiment.experiment).filter((r) => r.status === 'closed').length} rounds closed; rejections ${JSON.stringify(counts)}`);
  } finally {
    await dashboard?.close();
    await aggregator.stop();
    await transport.close();
    await broker?.close();
    store.close();
  }
  return 0;
}
