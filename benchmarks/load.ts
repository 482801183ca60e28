/**
 * `npm run bench:load`: lightweight simulated agents (benchmarks/load-agents.ts, real MQTT,
 * signed uploads, receipts, status) against a real `tinyproto server` child process, through
 * Mosquitto with the shipped dev config and through the server's embedded broker, for each N;
 * plus the in-process figures (benchmarks/load-inprocess.ts). Table + JSON in
 * benchmarks/results/load.*, table in README.md. Bounded: every run has a timeout.
 * Brokers: `mosquitto` (the shipped dev config), `fleet` (the shipped fleet config: agents over TLS
 * with a password each and the ACL, the server on its loopback listener as the config documents)
 * and `embedded`. The `relays` runs split the N agents over two `tinyproto relay` processes (each
 * with its embedded broker, benchmarks/load-relay.ts) in front of the server.
 * Env: LOAD_N (default 100,1000,5000), LOAD_ROUNDS (default 5), LOAD_BROKERS (fleet,mosquitto,embedded,relays);
 * for profiling: LOAD_SERVER_NODE_ARGS (extra node flags for the server child, e.g.
 * "--cpu-prof --cpu-prof-dir=/tmp/prof"), LOAD_NO_WRITE=1 (print only: no results files, no
 * README), LOAD_NO_INPROC=1 (skip the in-process figures); summarise with benchmarks/load-profile.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { freePort, mosquittoAvailable, startMosquitto, type RunningMosquitto } from '../mqtt/mosquitto.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { experimentMasks } from '../method/experiment.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { inProcessFigures } from './load-inprocess.ts';
import { sampler, cpuSeconds, exited, lines, type NetRow } from './load-proc.ts';
import { runRelayed } from './load-relay.ts';

const NS = (process.env['LOAD_N'] ?? '100,1000,5000').split(',').map(Number);
const ROUNDS = Number(process.env['LOAD_ROUNDS'] ?? 5);
type BrokerKind = 'fleet' | 'mosquitto' | 'embedded';
const BROKERS = (process.env['LOAD_BROKERS'] ?? 'fleet,mosquitto,embedded,relays').split(',') as (BrokerKind | 'relays')[];
const BROKER_NAMES: Record<BrokerKind, string> = {
  fleet: 'Mosquitto 2.0 (fleet config: TLS, passwords, ACL)',
  mosquitto: 'Mosquitto 2.0 (dev config)',
  embedded: 'embedded (aedes, in the server)',
};
const RUN_TIMEOUT_MS = 240_000;
const SERVER_NODE_ARGS = (process.env['LOAD_SERVER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
const NO_WRITE = process.env['LOAD_NO_WRITE'] === '1';
const NO_INPROC = process.env['LOAD_NO_INPROC'] === '1';

interface AgentsDone {
  sends: number;
  perRound: { round: number; sawGlobal: number; receipted: number; roundMs: number | null }[];
}


async function runOne(brokerKind: BrokerKind, n: number): Promise<NetRow> {
  const dir = mkdtempSync(join(tmpdir(), `tinyproto-load-${brokerKind}-${n}-`));
  const experiment = `load-${brokerKind}-${n}`;
  const config = resolveExperimentConfig({ experiment, agents: Array.from({ length: n }, (_, i) => `agent-${i}`), mu: 1e-4 });
  const s = experimentMasks(config)!.s;
  let mosq: RunningMosquitto | null = null;
  let url: string;
  const agentUrlArgs: string[] = [];
  const serverArgs = ['bin/tinyproto.mjs', 'server', '--experiment', experiment, '--agents', String(n), '--rounds', String(ROUNDS), '--mu', '1e-4', '--store', join(dir, 'server.db'), '--deadline-ms', '120000', '--min-uploads', String(n), '--telemetry-wait-ms', '0'];
  if (brokerKind === 'mosquitto') {
    mosq = await startMosquitto({ config: 'dev', dir: join(dir, 'mosquitto') });
    url = mosq.url;
    serverArgs.push('--broker', url);
  } else if (brokerKind === 'fleet') {
    const agentIds = config.agents;
    mosq = await startMosquitto({ config: 'fleet', dir: join(dir, 'mosquitto'), agents: [...agentIds], startTimeoutMs: 30_000 });
    url = mosq.tlsUrl!;
    serverArgs.push('--broker', mosq.url, '--username', 'aggregator', '--password', mosq.credentials!['aggregator']!);
    agentUrlArgs.push(join(mosq.dir, 'credentials.json'), mosq.caFile!);
  } else {
    const port = await freePort();
    url = `mqtt://127.0.0.1:${port}`;
    serverArgs.push('--broker', 'embedded', '--embedded-port', String(port));
  }
  const brokerCpu0 = mosq ? cpuSeconds(mosq.pid) : null;
  // agents first (they wait for the retained ROUND), then the server: connect time is the agents' alone
  let server: ChildProcess | null = null;
  let connectMs = 0;
  const result: { done: AgentsDone | null } = { done: null };
  let serverSample: ReturnType<typeof sampler> | null = null;
  const serverOut: string[] = [];
  const startServer = (): void => {
    server = spawn(process.execPath, [...SERVER_NODE_ARGS, ...serverArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
    lines(server, (l) => serverOut.push(l));
    server.stderr?.on('data', () => undefined);
    serverSample = sampler(server.pid!);
  };
  if (brokerKind === 'embedded') {
    startServer();
    // wait for the embedded broker to listen
    for (let k = 0; k < 200 && !serverOut.some((l) => l.includes('connected to')); k++) await new Promise((r) => setTimeout(r, 50));
  }
  const agents = spawn(process.execPath, ['--import', 'tsx', 'benchmarks/load-agents.ts', url, experiment, String(n), String(ROUNDS), String(config.numClasses), String(config.featureDim), String(s), '5000', String(RUN_TIMEOUT_MS - 30_000), '0', ...agentUrlArgs], { stdio: ['ignore', 'pipe', 'inherit'] });
  let t0 = 0;
  lines(agents, (l) => {
    const m = JSON.parse(l) as { event: string; connectMs?: number };
    if (m.event === 'connected') {
      connectMs = m.connectMs!;
      t0 = Date.now();
      if (!server) startServer();
    } else if (m.event === 'done') result.done = m as unknown as AgentsDone;
  });
  await exited(agents, RUN_TIMEOUT_MS);
  const wallS = (Date.now() - t0) / 1000;
  const serverCode = server ? await exited(server, 30_000) : null;
  const agg = serverSample ? (serverSample as ReturnType<typeof sampler>).stop() : { cpu: 0, rss: 0 };
  const brokerCpu = mosq && brokerCpu0 !== null ? (cpuSeconds(mosq.pid) ?? brokerCpu0) - brokerCpu0 : null;
  await mosq?.stop();
  const store = openAggregatorStore(join(dir, 'server.db'));
  let stored = 0;
  for (let r = 1; r <= ROUNDS; r++) stored += store.uploadsFor(experiment, r).length;
  const closed = store.rounds(experiment).filter((r) => r.status === 'closed');
  store.close();
  const d = result.done;
  const missedGlobal = d ? d.perRound.reduce((a, r) => a + (n - r.sawGlobal), 0) : n * ROUNDS;
  const roundS = d ? d.perRound.map((r) => (r.roundMs ?? NaN) / 1000) : [];
  rmSync(dir, { recursive: true, force: true });
  return {
    broker: BROKER_NAMES[brokerKind],
    n,
    rounds: closed.length,
    connectS: connectMs / 1000,
    roundS,
    uploadsPerS: stored / Math.max(1e-9, roundS.reduce((a, x) => a + (Number.isFinite(x) ? x : 0), 0)),
    aggCpuS: agg.cpu,
    aggPeakMb: agg.rss / 1e6,
    brokerCpuS: brokerCpu,
    stored,
    lost: n * ROUNDS - stored,
    missedGlobal,
    sends: d?.sends ?? 0,
    ok: serverCode === 0 && closed.length === ROUNDS,
    note: `wall ${wallS.toFixed(1)} s, server exit ${String(serverCode)}`,
  };
}

const cpuModel = cpus()[0]?.model ?? '?';
const avx512 = /avx512f/.test(readFileSync('/proc/cpuinfo', 'utf8'));
process.stdout.write(`bench:load on ${cpus().length} x ${cpuModel}${avx512 ? ' (AVX-512)' : ''}, Node ${process.version}\n`);
const inproc = NO_INPROC ? { uploadBytes: NaN, crcNative: false, intakePerSecond: NaN, closeMs100: NaN, closeMs5000: NaN, durablePerSecond: NaN, batch: NaN } : inProcessFigures();
process.stdout.write(`in-process: ${JSON.stringify(inproc)}\n`);
const rows: NetRow[] = [];
for (const b of BROKERS) {
  if ((b === 'mosquitto' || b === 'fleet') && !mosquittoAvailable()) {
    process.stdout.write('mosquitto not installed: skipped\n');
    continue;
  }
  for (const n of NS) {
    const row = b === 'relays' ? await runRelayed(n, ROUNDS, RUN_TIMEOUT_MS) : await runOne(b, n);
    rows.push(row);
    process.stdout.write(`${JSON.stringify(row)}\n`);
    if (!row.ok && n >= 1000) break; // a larger N would not hold either
  }
}
const f = (x: number, dgt = 1): string => (Number.isFinite(x) ? x.toFixed(dgt) : '-');
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
const md = [
  `Measured on ${cpus().length} x ${cpuModel}${avx512 ? ' (AVX-512)' : ''}, Node ${process.version}; ${ROUNDS} rounds per run; TinyProto K = 10, d = 500, s = 50, 1-4 classes per agent, float32, signed; agents in one child process, server in another.`,
  '',
  '| broker | agents | rounds closed | connect s | round s (median / max) | uploads/s | server CPU s | server peak RSS MB | broker CPU s | uploads lost | missed GLOBAL | upload sends |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.broker} | ${r.n} | ${r.rounds}/${ROUNDS} | ${f(r.connectS)} | ${f(med(r.roundS), 2)} / ${f(Math.max(...r.roundS), 2)} | ${f(r.uploadsPerS, 0)} | ${f(r.aggCpuS)} | ${f(r.aggPeakMb, 0)} | ${r.brokerCpuS === null ? (r.broker.startsWith('relays') ? 'in relays, server' : 'in server') : f(r.brokerCpuS)} | ${r.lost} | ${r.missedGlobal} | ${r.sends} |`),
  '',
  '| in-process (one core) | value |',
  '| --- | ---: |',
  `| decode + validate + aggregate, uploads/s (${f(inproc.uploadBytes, 0)} B uploads, CRC ${inproc.crcNative ? 'zlib.crc32' : 'JS sliced'}) | ${f(inproc.intakePerSecond, 0)} |`,
  `| round close (sums -> GLOBAL) at 100 uploads, ms | ${f(inproc.closeMs100, 3)} |`,
  `| round close at 5,000 uploads, ms | ${f(inproc.closeMs5000, 3)} |`,
  `| durable group commit (batches of ${inproc.batch}, synchronous=FULL), uploads/s | ${f(inproc.durablePerSecond, 0)} |`,
].join('\n');
process.stdout.write(md + '\n');
if (!NO_WRITE) writeBenchmarkResults('benchmarks/results', 'load', 'bench:load', md, { cpu: cpuModel, avx512, node: process.version, rounds: ROUNDS, inProcess: inproc, runs: rows });
