/**
 * `npm run bench:comm`: what TinyProto saves on the wire, per client per round.
 *
 *  1. Bytes for FedProto (dense float32, d = 500) and TinyProto (r = 10 %, s = 50) with float32,
 *     float16 and int8 values, K = 10, for an agent holding 1, 3 or 10 classes, at three levels:
 *     payload (values only, METHOD.md's arithmetic), the encoded message (codec header, presence
 *     bitmap, values, CRC), and the bytes on the socket including MQTT framing, counted on real
 *     connections: an agent publishes UPLOADs (QoS 1, `tinyproto/{experiment}/upload/{agent}`)
 *     and receives the aggregator's retained QoS 1 GLOBAL. Each connection goes through a small
 *     counting TCP relay, so the count is exactly the TCP payload both ways (PUBLISH + PUBACK),
 *     whatever the transport: the embedded aedes broker (MQTT 3.1.1, plain TCP) and, when
 *     mosquitto is installed, the fleet configuration (MQTT 5, plain TCP and TLS: the version the
 *     broker negotiates, TLS 1.3, and TLS 1.2 forced on the client side).
 *     TCP/IP headers (and TCP ACKs) are not counted.
 *  2. Accuracy of TinyProto float32 / float16 / int8 and FedProto float32 from a short simulation
 *     with the same seed, with the mean message bytes per client per round it recorded.
 *
 * Writes benchmarks/results/comm.json and comm.md and refreshes the README block.
 *
 *   npm run bench:comm -- [--rounds R] [--samples-per-client M] [--clients N] [--seed S]
 *                         [--reps N] [--no-sim] [--no-mosquitto]
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import os from 'node:os';
import mqtt from 'mqtt';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type SimResult } from '../sim/simulate.ts';
import { loadDataset, DEFAULT_DATA_DIR } from '../data/index.ts';
import { markdownTable, pct, textTable } from '../common/table.ts';
import { writeBenchmarkResults } from './readme-block.ts';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { MqttSession, type MqttConnectFn } from '../mqtt/session.ts';
import { agentFilter } from '../wire/topics.ts';
import type { MqttConnectionSettings } from '../mqtt/options.ts';
import { mosquittoAvailable, mosquittoBin, fleetToolsAvailable, startMosquitto } from '../mqtt/mosquitto.ts';
import { execFileSync } from 'node:child_process';
import {
  CLASS_COUNTS,
  COMM_SETTING,
  ENCODINGS,
  MQTT_PUBACK_BYTES,
  globalMessageBytes,
  globalTopic,
  makeGlobalMessage,
  makeUploadMessage,
  mqttPublishBytes,
  payloadBytes,
  uploadMessageBytes,
  uploadTopic,
  type Encoding,
} from './comm-sizes.ts';
import { TinyProtoError } from '../common/errors.ts';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '10' },
    'samples-per-client': { type: 'string', default: '200' },
    clients: { type: 'string', default: '10' },
    seed: { type: 'string', default: '1' },
    reps: { type: 'string', default: '3' },
    data: { type: 'string' },
    'no-sim': { type: 'boolean', default: false },
    'no-mosquitto': { type: 'boolean', default: false },
    out: { type: 'string', default: 'benchmarks/results' },
  },
});
const reps = Number(values.reps);
const t0 = performance.now();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ counting relay

interface Relay {
  port: number;
  /** Bytes client -> broker and broker -> client, over every connection through this relay. */
  readonly count: { toBroker: number; fromBroker: number; connections: number };
  close(): Promise<void>;
}

/** A TCP relay to host:port that counts the bytes it forwards each way (TLS passes through opaque). */
async function startRelay(host: string, port: number): Promise<Relay> {
  const count = { toBroker: 0, fromBroker: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    count.connections++;
    const upstream = createConnection({ host, port });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (c: Buffer) => {
      count.toBroker += c.length;
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      count.fromBroker += c.length;
      client.write(c);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The TLS version and cipher the broker negotiates with a Node client (what MQTT.js gets). */
function negotiatedTls(host: string, port: number, caFile: string, maxVersion: 'TLSv1.2' | undefined): Promise<{ protocol: string; cipher: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ca: readFileSync(caFile), servername: 'localhost', ...(maxVersion ? { maxVersion } : {}) }, () => {
      const r = { protocol: s.getProtocol() ?? 'unknown', cipher: s.getCipher().name };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

// ------------------------------------------------------------------------------ wire scenarios

interface ScenarioTarget {
  key: string;
  label: string;
  host: string;
  port: number;
  scheme: 'mqtt' | 'mqtts';
  version: 4 | 5;
  caFile: string | null;
  /** Cap the client's TLS version (the broker otherwise picks the highest both support). */
  tlsMaxVersion?: 'TLSv1.2';
  agentCredentials: { username: string; password: string | null };
  aggregatorCredentials: { username: string | null; password: string | null };
}

interface Exchange {
  /** Bytes the agent wrote to its socket / read from it for this message (median of the reps). */
  sent: number;
  received: number;
  total: number;
  /** Every repetition's total, to show the count is stable. */
  totals: number[];
  /** MQTT framing expected by `mqttPublishBytes` + PUBACK (plain TCP only). */
  expected: number | null;
}

interface ScenarioResult {
  key: string;
  label: string;
  protocolVersion: 4 | 5 | null;
  tls: boolean;
  /** Negotiated TLS version and cipher (TLS scenarios). */
  tlsInfo: { protocol: string; cipher: string } | null;
  /** Bytes of connection set-up (TLS handshake, CONNECT/CONNACK, SUBSCRIBE/SUBACK) for the agent. */
  agentSetupBytes: number;
  upload: Record<string, Exchange>;
  download: Record<string, Exchange>;
  /** The aggregator's cost of publishing one GLOBAL (PUBLISH + PUBACK), once per round for all agents. */
  aggregatorPublish: Record<string, number>;
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function settingsFor(t: ScenarioTarget, relayPort: number, who: 'agent' | 'aggregator'): MqttConnectionSettings {
  const creds = who === 'agent' ? t.agentCredentials : t.aggregatorCredentials;
  return {
    url: `${t.scheme}://127.0.0.1:${relayPort}`,
    // as the transports do: client id = agent id; the aggregator's is aggregator-{experiment}
    clientId: who === 'agent' ? COMM_SETTING.agent : `aggregator-${COMM_SETTING.experiment}`,
    username: creds.username,
    password: creds.password,
    caFile: t.caFile,
    certFile: null,
    keyFile: null,
    version: t.version === 5 ? '5' : '3.1.1',
    sessionExpirySeconds: 3600,
    connectTimeoutMs: 10_000,
  };
}

async function settle(relay: Relay, ms = 40): Promise<void> {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const now = relay.count.toBroker + relay.count.fromBroker;
    if (now === last) return;
    last = now;
    await sleep(ms);
  }
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new TinyProtoError('E_TIMEOUT', `timed out waiting for ${what}`);
    await sleep(2);
  }
}

async function measureScenario(t: ScenarioTarget): Promise<ScenarioResult> {
  const tlsInfo = t.scheme === 'mqtts' && t.caFile !== null ? await negotiatedTls(t.host, t.port, t.caFile, t.tlsMaxVersion) : null;
  const label = tlsInfo ? `${t.label}/${tlsInfo.protocol.replace('TLSv', 'TLS ')} (mosquitto)` : t.label;
  const connect: MqttConnectFn = (url, options) =>
    (mqtt.connect as unknown as MqttConnectFn)(url, t.tlsMaxVersion ? { ...options, maxVersion: t.tlsMaxVersion } : options);
  const agentRelay = await startRelay(t.host, t.port);
  const aggRelay = await startRelay(t.host, t.port);
  const agent = new MqttSession({ settings: settingsFor(t, agentRelay.port, 'agent'), subscriptions: [globalTopic()], connect });
  const aggregator = new MqttSession({
    settings: settingsFor(t, aggRelay.port, 'aggregator'),
    subscriptions: [agentFilter(COMM_SETTING.experiment, 'upload')],
    connect,
  });
  const agentGot: number[] = [];
  const aggGot: number[] = [];
  agent.onMessage((_topic, bytes) => agentGot.push(bytes.length));
  aggregator.onMessage((_topic, bytes) => aggGot.push(bytes.length));
  try {
    await aggregator.start();
    await agent.start();
    await settle(agentRelay);
    await settle(aggRelay);
    const agentSetupBytes = agentRelay.count.toBroker + agentRelay.count.fromBroker;
    const upload: Record<string, Exchange> = {};
    const download: Record<string, Exchange> = {};
    const aggregatorPublish: Record<string, number> = {};

    for (const enc of ENCODINGS) {
      for (const n of CLASS_COUNTS) {
        const msg = makeUploadMessage(enc, n);
        const sent: number[] = [];
        const received: number[] = [];
        for (let r = 0; r < reps; r++) {
          const a0 = { ...agentRelay.count };
          const seen = aggGot.length;
          await agent.publish(uploadTopic(), msg, false); // resolves on PUBACK
          await waitFor(() => aggGot.length > seen, 'the aggregator to receive the upload');
          await settle(agentRelay);
          sent.push(agentRelay.count.toBroker - a0.toBroker);
          received.push(agentRelay.count.fromBroker - a0.fromBroker);
        }
        upload[`${enc.label}|${n}`] = exchange(sent, received, t.scheme === 'mqtt' ? mqttPublishBytes(uploadTopic(), msg.length, t.version) + MQTT_PUBACK_BYTES : null);
      }
      const msg = makeGlobalMessage(enc, COMM_SETTING.K);
      const sent: number[] = [];
      const received: number[] = [];
      const aggCost: number[] = [];
      for (let r = 0; r < reps; r++) {
        const a0 = { ...agentRelay.count };
        const g0 = { ...aggRelay.count };
        const seen = agentGot.length;
        await aggregator.publish(globalTopic(), msg, true);
        await waitFor(() => agentGot.length > seen, 'the agent to receive the GLOBAL');
        // the agent's PUBACK follows the message event
        await waitFor(() => agentRelay.count.toBroker - a0.toBroker > 0, "the agent's PUBACK");
        await settle(agentRelay);
        await settle(aggRelay);
        sent.push(agentRelay.count.toBroker - a0.toBroker);
        received.push(agentRelay.count.fromBroker - a0.fromBroker);
        aggCost.push(aggRelay.count.toBroker - g0.toBroker + (aggRelay.count.fromBroker - g0.fromBroker));
      }
      download[enc.label] = exchange(sent, received, t.scheme === 'mqtt' ? mqttPublishBytes(globalTopic(), msg.length, t.version) + MQTT_PUBACK_BYTES : null);
      aggregatorPublish[enc.label] = median(aggCost);
    }
    return { key: t.key, label, protocolVersion: agent.protocolVersion, tls: t.scheme === 'mqtts', tlsInfo, agentSetupBytes, upload, download, aggregatorPublish };
  } finally {
    await agent.close();
    await aggregator.close();
    await agentRelay.close();
    await aggRelay.close();
  }
}

function exchange(sent: number[], received: number[], expected: number | null): Exchange {
  const totals = sent.map((s, i) => s + received[i]!);
  return { sent: median(sent), received: median(received), total: median(totals), totals, expected };
}

// ------------------------------------------------------------------------------ 1. the wire

const scenarios: ScenarioResult[] = [];
const notMeasured: string[] = [
  'TCP/IP headers: every TCP segment also carries 40+ bytes of IPv4 + TCP headers (60+ with IPv6), and the receiver sends ACK segments; they are not counted.',
];
console.log(`bench:comm — K = ${COMM_SETTING.K}, d = ${COMM_SETTING.d}, r = ${COMM_SETTING.ratio * 100}% (s = ${COMM_SETTING.s}), experiment '${COMM_SETTING.experiment}', agent '${COMM_SETTING.agent}', ${reps} repetitions per message`);
{
  const broker = await startEmbeddedBroker({ port: 0 });
  try {
    scenarios.push(
      await measureScenario({
        key: 'aedes-tcp',
        label: 'MQTT 3.1.1/TCP (aedes)',
        host: broker.host,
        port: broker.port,
        scheme: 'mqtt',
        version: 4,
        caFile: null,
        agentCredentials: { username: COMM_SETTING.agent, password: null },
        aggregatorCredentials: { username: null, password: null },
      }),
    );
  } finally {
    await broker.close();
  }
  console.log('  measured: aedes (embedded), MQTT 3.1.1, plain TCP');
}
if (!values['no-mosquitto'] && mosquittoAvailable() && fleetToolsAvailable()) {
  const broker = await startMosquitto({ config: 'fleet', agents: [COMM_SETTING.agent] });
  try {
    const creds = broker.credentials!;
    const common = {
      host: '127.0.0.1',
      version: 5 as const,
      agentCredentials: { username: COMM_SETTING.agent, password: creds[COMM_SETTING.agent]! },
      aggregatorCredentials: { username: 'aggregator', password: creds['aggregator']! },
    };
    scenarios.push(await measureScenario({ ...common, key: 'mosquitto-tcp', label: 'MQTT 5/TCP (mosquitto)', port: broker.port, scheme: 'mqtt', caFile: null }));
    console.log('  measured: mosquitto (fleet config), MQTT 5, plain TCP');
    scenarios.push(
      await measureScenario({ ...common, key: 'mosquitto-tls', label: 'MQTT 5', port: broker.tlsPort!, scheme: 'mqtts', caFile: broker.caFile! }),
    );
    console.log(`  measured: mosquitto (fleet config), MQTT 5, ${scenarios[scenarios.length - 1]!.tlsInfo?.protocol ?? 'TLS'}`);
    scenarios.push(
      await measureScenario({
        ...common,
        key: 'mosquitto-tls12',
        label: 'MQTT 5',
        port: broker.tlsPort!,
        scheme: 'mqtts',
        caFile: broker.caFile!,
        tlsMaxVersion: 'TLSv1.2',
      }),
    );
    console.log(`  measured: mosquitto (fleet config), MQTT 5, ${scenarios[scenarios.length - 1]!.tlsInfo?.protocol ?? 'TLS'} (client capped at TLS 1.2)`);
  } finally {
    await broker.stop();
  }
} else {
  notMeasured.push(
    values['no-mosquitto']
      ? 'TLS: skipped (--no-mosquitto), so the TLS record overhead was not measured.'
      : 'TLS: mosquitto (or openssl / mosquitto_passwd) is not available here, so the TLS record overhead was not measured.',
  );
}
for (const sc of scenarios) {
  for (const [k, e] of [...Object.entries(sc.upload), ...Object.entries(sc.download)]) {
    if (new Set(e.totals).size > 1) console.warn(`  note: ${sc.label} ${k}: repetitions differ (${e.totals.join(', ')}); the median is reported`);
    if (e.expected !== null && e.expected !== e.total) console.warn(`  WARNING: ${sc.label} ${k}: measured ${e.total} B, framing arithmetic says ${e.expected} B`);
  }
}

// ------------------------------------------------------------------------------ tables

const fmt = (n: number | undefined): string => (n === undefined ? 'n/a' : n.toLocaleString('en-US'));
const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined || b === 0 ? 'n/a' : `${(a / b).toFixed(1)}x`);
const wireHeaders = scenarios.map((s) => `wire: ${s.label}`);
const fed = ENCODINGS.find((e) => e.method === 'fedproto')!;
const tiny = ENCODINGS.filter((e) => e.method === 'tinyproto');

interface SizeRow {
  direction: 'upload' | 'download';
  encoding: string;
  classes: number;
  payload: number;
  message: number;
  wire: Record<string, number>;
}
const sizeRows: SizeRow[] = [];
for (const enc of ENCODINGS) {
  for (const n of CLASS_COUNTS) {
    sizeRows.push({
      direction: 'upload',
      encoding: enc.label,
      classes: n,
      payload: payloadBytes(enc, n),
      message: uploadMessageBytes(enc, n),
      wire: Object.fromEntries(scenarios.map((s) => [s.key, s.upload[`${enc.label}|${n}`]!.total])),
    });
  }
}
for (const enc of ENCODINGS) {
  sizeRows.push({
    direction: 'download',
    encoding: enc.label,
    classes: COMM_SETTING.K,
    payload: payloadBytes(enc, COMM_SETTING.K),
    message: globalMessageBytes(enc, COMM_SETTING.K),
    wire: Object.fromEntries(scenarios.map((s) => [s.key, s.download[enc.label]!.total])),
  });
}
// the benchmark's arithmetic must be what went over the wire
for (const enc of ENCODINGS) {
  for (const n of CLASS_COUNTS) if (makeUploadMessage(enc, n).length !== uploadMessageBytes(enc, n)) throw new TinyProtoError('E_INTERNAL', `upload size mismatch ${enc.label} ${n}`);
  if (makeGlobalMessage(enc).length !== globalMessageBytes(enc, COMM_SETTING.K)) throw new TinyProtoError('E_INTERNAL', `global size mismatch ${enc.label}`);
}

const sizeHeader = ['direction', 'encoding', 'classes', 'payload B', 'message B', ...wireHeaders];
const sizeTable = sizeRows.map((r) => [r.direction, r.encoding, String(r.classes), fmt(r.payload), fmt(r.message), ...scenarios.map((s) => fmt(r.wire[s.key]))]);

const ratioHeader = ['direction', 'FedProto / TinyProto', 'classes', 'payload', 'message', ...wireHeaders];
const ratioTable: string[][] = [];
const ratioJson: { direction: string; valueType: string; classes: number; payload: number; message: number; wire: Record<string, number> }[] = [];
for (const dir of ['upload', 'download'] as const) {
  for (const t of tiny) {
    for (const n of dir === 'upload' ? CLASS_COUNTS : [COMM_SETTING.K]) {
      const f = sizeRows.find((r) => r.direction === dir && r.encoding === fed.label && r.classes === n)!;
      const x = sizeRows.find((r) => r.direction === dir && r.encoding === t.label && r.classes === n)!;
      ratioTable.push([dir, `vs ${t.label}`, String(n), ratio(f.payload, x.payload), ratio(f.message, x.message), ...scenarios.map((s) => ratio(f.wire[s.key], x.wire[s.key]))]);
      ratioJson.push({
        direction: dir,
        valueType: t.valueType,
        classes: n,
        payload: f.payload / x.payload,
        message: f.message / x.message,
        wire: Object.fromEntries(scenarios.map((s) => [s.key, f.wire[s.key]! / x.wire[s.key]!])),
      });
    }
  }
}
console.log('\nBytes per client per round (wire = PUBLISH + PUBACK on the agent\'s socket):\n' + textTable(sizeHeader, sizeTable));
console.log('\nCompression, FedProto float32 / TinyProto:\n' + textTable(ratioHeader, ratioTable));
const setupLine = scenarios.map((s) => `${s.label}: ${fmt(s.agentSetupBytes)} B`).join('; ');
console.log(`\nOne-off connection set-up per agent (TLS handshake, CONNECT/CONNACK, SUBSCRIBE/SUBACK): ${setupLine}`);

// ------------------------------------------------------------------------------ 2. accuracy

interface SimRun {
  label: string;
  method: SimConfig['method'];
  valueType: SimConfig['valueType'];
}
const simRuns: SimRun[] = [
  { label: 'FedProto float32', method: 'fedproto', valueType: 'float32' },
  { label: 'TinyProto float32', method: 'tinyproto', valueType: 'float32' },
  { label: 'TinyProto float16', method: 'tinyproto', valueType: 'float16' },
  { label: 'TinyProto int8', method: 'tinyproto', valueType: 'int8' },
];
const rounds = Number(values.rounds);
const cap = Number(values['samples-per-client']);
const simBase: Partial<SimConfig> = {
  clients: Number(values.clients),
  alpha: 0.1,
  rounds,
  samplesPerClient: cap,
  seed: Number(values.seed),
  featureDim: 500,
  ratio: 0.1,
  lambda: 10,
  batchSize: 32,
  lr: 0.01,
  localEpochs: 1,
  dataDir: values.data ?? null,
};
interface SimRow {
  run: SimRun;
  result: SimResult;
  meanMessageUp: number;
  meanMessageDown: number;
}
const simRows: SimRow[] = [];
let accHeader: string[] = [];
let accTable: string[][] = [];
let datasetName = '';
if (!values['no-sim']) {
  const ds = loadDataset(values.data ?? DEFAULT_DATA_DIR, 'all');
  datasetName = ds.name;
  console.log(`\nsimulation — ${ds.name}, ${simBase.clients} clients, Dir(0.1), ${rounds} rounds, at most ${cap} samples per client, seed ${simBase.seed}`);
  for (const run of simRuns) {
    const cfg = resolveSimConfig({ ...simBase, method: run.method, valueType: run.valueType });
    const result = await simulate(cfg, {
      dataset: ds,
      onRound: (r) => process.stderr.write(`  ${run.label} round ${r.round}/${rounds}: head ${pct(r.accuracyHead)} proto ${pct(r.accuracyPrototype)} (${r.seconds.toFixed(1)} s)\n`),
    });
    let up = 0;
    let down = 0;
    let n = 0;
    for (const r of result.rounds) {
      for (const c of r.clients) {
        up += c.messageBytesUp;
        down += c.messageBytesDown;
        n++;
      }
    }
    simRows.push({ run, result, meanMessageUp: n ? up / n : 0, meanMessageDown: n ? down / n : 0 });
    console.log(`${run.label}: done in ${result.seconds.toFixed(0)} s`);
  }
  const fedUp = simRows.find((r) => r.run.method === 'fedproto')?.meanMessageUp;
  accHeader = ['method', 'values', 'best acc (head)', 'last acc (head)', 'best acc (proto)', 'last acc (proto)', 'payload up B', 'message up B', 'message down B', 'message up vs FedProto', 'time'];
  accTable = simRows.map(({ run, result, meanMessageUp, meanMessageDown }) => {
    const s = result.summary;
    return [
      run.method === 'fedproto' ? 'FedProto' : 'TinyProto r=10%',
      run.valueType,
      `${pct(s.best.accuracyHead)} (r${s.best.roundHead})`,
      pct(s.last.accuracyHead),
      s.best.accuracyPrototype === null ? 'n/a' : `${pct(s.best.accuracyPrototype)} (r${s.best.roundPrototype})`,
      pct(s.last.accuracyPrototype),
      fmt(Math.round(s.meanBytesUpPerClientRound)),
      fmt(Math.round(meanMessageUp)),
      fmt(Math.round(meanMessageDown)),
      fedUp ? ratio(fedUp, meanMessageUp) : 'n/a',
      `${result.seconds.toFixed(0)} s`,
    ];
  });
  console.log('\n' + textTable(accHeader, accTable));
}

// ------------------------------------------------------------------------------ output

const seconds = (performance.now() - t0) / 1000;
const wireNotes = scenarios
  .map((s) => `${s.label} (MQTT ${s.protocolVersion === 5 ? '5' : '3.1.1'} negotiated${s.tlsInfo ? `; ${s.tlsInfo.protocol}, ${s.tlsInfo.cipher}, broker-config/mosquitto.fleet.conf` : ''})`)
  .join('; ');
const fedUp3 = sizeRows.find((r) => r.direction === 'upload' && r.encoding === fed.label && r.classes === 3)!;
const tiny3 = sizeRows.find((r) => r.direction === 'upload' && r.encoding === 'TinyProto float32' && r.classes === 3)!;
const plainV5 = scenarios.find((s) => s.key === 'mosquitto-tcp');
const mosquittoVersion = (() => {
  try {
    return /version (\S+)/.exec(execFileSync(mosquittoBin() ?? 'mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }))?.[1] ?? '';
  } catch (e) {
    // mosquitto -h exits with status 3 after printing its usage
    const out = (e as { stdout?: string }).stdout ?? '';
    return /version (\S+)/.exec(out)?.[1] ?? '';
  }
})();
const tlsScenarios = scenarios.filter((s) => s.tls);
const tlsLine =
  tlsScenarios.length > 0 && plainV5
    ? tlsScenarios
        .map(
          (s) =>
            `${s.tlsInfo?.protocol ?? 'TLS'} (${s.tlsInfo?.cipher ?? '?'}) adds ${fmt(tiny3.wire[s.key]! - tiny3.wire[plainV5.key]!)} B to a 3-class TinyProto float32 upload and ${fmt(fedUp3.wire[s.key]! - fedUp3.wire[plainV5.key]!)} B to a 3-class FedProto one`,
        )
        .join('; ') +
      ` (measured against the same broker without TLS: a record header and AEAD tag, plus an explicit nonce in TLS 1.2, per TLS record; one record for the PUBLISH and one for the PUBACK, more above 16 KiB). ` +
      `With the fleet config's \`tls_version tlsv1.2\`, mosquitto ${mosquittoVersion} negotiated ${tlsScenarios[0]?.tlsInfo?.protocol ?? '?'} with an uncapped Node client, so the setting acts as a minimum, not a pin.`
    : 'TLS overhead: not measured (see below).';
let md =
  `Bytes per client per round, K = ${COMM_SETTING.K}, d = ${COMM_SETTING.d}, TinyProto r = ${COMM_SETTING.ratio * 100}% (s = ${COMM_SETTING.s}); experiment \`${COMM_SETTING.experiment}\`, agent \`${COMM_SETTING.agent}\`. ` +
  `Upload = one UPLOAD of the classes the agent holds; download = the GLOBAL with all ${COMM_SETTING.K} classes. ` +
  `**payload** = prototype values only (METHOD.md's arithmetic; int8 includes its 4-byte scale per class); ` +
  `**message** = the codec message (header, K/d/s, presence bitmap, [contributor counts], values, CRC); ` +
  `**wire** = bytes counted on the agent's TCP connection for that message: the QoS 1 PUBLISH and the PUBACK going the other way, including MQTT framing and, in the TLS columns, TLS records.\n\n` +
  markdownTable(sizeHeader, sizeTable) +
  `\n\nCompression ratio FedProto float32 / TinyProto, measured:\n\n` +
  markdownTable(ratioHeader, ratioTable) +
  `\n\n_Wire bytes are counted by a TCP relay between each MQTT.js client (\`mqtt/session.ts\`, QoS 1, topic \`tinyproto/${COMM_SETTING.experiment}/upload/${COMM_SETTING.agent}\`; GLOBAL retained on \`tinyproto/${COMM_SETTING.experiment}/global\`) and the broker: ${wireNotes}. ` +
  `Each message was sent ${reps} times; the counts were identical unless a warning was printed. ` +
  `${tlsLine} ` +
  `One-off connection set-up per agent: ${setupLine}. ` +
  `Not counted: TCP/IP headers (40+ B per segment) and TCP ACKs; MQTT keep-alive pings (4 B every 30 s); the aggregator's own PUBLISH of the GLOBAL (once per round for all agents; in comm.json)._`;
if (simRows.length > 0) {
  md +=
    `\n\nAccuracy by value type (same seed, short run):\n\n` +
    markdownTable(accHeader, accTable) +
    `\n\n_${datasetName}, ${simBase.clients} clients, Dir(0.1), ${rounds} round${rounds === 1 ? '' : 's'}, at most ${cap} samples per client (75% train / 25% test), heterogeneous backbones, d = 500, lambda = 10, batch 32, SGD lr 0.01, seed ${simBase.seed}. ` +
    `Bytes are means per client per round from the simulation's records (every prototype goes through the codec; the message has a shorter experiment id \`sim\` and sender \`client-N\`). ` +
    `A short run: differences of a point or two are within run-to-run noise._`;
}
md += `\n\n_Measured ${new Date().toISOString().slice(0, 10)} in ${(seconds / 60).toFixed(1)} min on ${os.availableParallelism()} cores with \`npm run bench:comm\`._`;
if (notMeasured.length > 1) md += `\n\n_Not measured: ${notMeasured.slice(1).join(' ')}_`;

const updated = writeBenchmarkResults(values.out, 'comm', 'bench:comm', md, {
      date: new Date().toISOString(),
      seconds,
      setting: COMM_SETTING,
      encodings: ENCODINGS,
      classCounts: CLASS_COUNTS,
      repetitions: reps,
      sizes: sizeRows,
      ratios: ratioJson,
      wire: scenarios,
      notMeasured,
      simulation:
        simRows.length === 0
          ? null
          : {
              settings: simBase,
              runs: simRows.map(({ run, result, meanMessageUp, meanMessageDown }) => ({
                label: run.label,
                method: run.method,
                valueType: run.valueType,
                mu: result.mu,
                masks: result.masks,
                summary: result.summary,
                meanMessageBytesUpPerClientRound: meanMessageUp,
                meanMessageBytesDownPerClientRound: meanMessageDown,
                rounds: result.rounds.map(({ clients: _c, ...r }) => r),
              })),
            },
    });
console.log(`\nwrote ${values.out}/comm.json and comm.md${updated ? '; README.md block refreshed' : ''} (${(seconds / 60).toFixed(1)} min)`);
