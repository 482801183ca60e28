/**
 * `npm run bench:comm`, part 1: the bytes on the socket. An agent publishes UPLOADs and receives
 * the aggregator's retained GLOBAL through counting relays (comm-relay.ts), on the embedded aedes
 * broker and, when mosquitto is installed, the fleet configuration (plain TCP, TLS, TLS 1.2).
 */
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { MqttSession, type MqttConnectFn } from '../mqtt/session.ts';
import { agentFilter } from '../wire/topics.ts';
import type { MqttConnectionSettings } from '../mqtt/options.ts';
import { mosquittoAvailable, fleetToolsAvailable, startMosquitto } from '../mqtt/mosquitto.ts';
import { TinyProtoError } from '../common/errors.ts';
import { CLASS_COUNTS, COMM_SETTING, ENCODINGS, MQTT_PUBACK_BYTES, globalTopic, makeGlobalMessage, makeUploadMessage, mqttPublishBytes, uploadTopic } from './comm-sizes.ts';
import { negotiatedTls, settle, sleep, startRelay } from './comm-relay.ts';

export interface ScenarioTarget {
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

export interface Exchange {
  /** Bytes the agent wrote to its socket / read from it for this message (median of the reps). */
  sent: number;
  received: number;
  total: number;
  /** Every repetition's total, to show the count is stable. */
  totals: number[];
  /** MQTT framing expected by `mqttPublishBytes` + PUBACK (plain TCP only). */
  expected: number | null;
}

export interface ScenarioResult {
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
  /** FedAvg's model state up (agent -> aggregator) and down, in chunks (comm-fedavg.ts); null when not measured. */
  fedavg: { upload: Exchange; download: Exchange; chunks: number } | null;
}


export const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

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

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new TinyProtoError('E_TIMEOUT', `timed out waiting for ${what}`, { what, timeoutMs });
    await sleep(2);
  }
}

/** Sends `chunks` one after the other (each resolves on its PUBACK) and waits until the other side has them all. */
async function sendChunks(from: MqttSession, topic: string, chunks: readonly Uint8Array[], got: number[], what: string): Promise<void> {
  const seen = got.length;
  for (const c of chunks) await from.publish(topic, c, false);
  await waitFor(() => got.length >= seen + chunks.length, what, 20_000);
}

async function measureScenario(t: ScenarioTarget, reps: number, fedavgChunks: readonly Uint8Array[] | null): Promise<ScenarioResult> {
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
    let fedavg: ScenarioResult['fedavg'] = null;
    if (fedavgChunks !== null) {
      const expected = (topic: string): number | null => (t.scheme === 'mqtt' ? fedavgChunks.reduce((a, c) => a + mqttPublishBytes(topic, c.length, t.version) + MQTT_PUBACK_BYTES, 0) : null);
      const us: number[] = [];
      const ur: number[] = [];
      const ds: number[] = [];
      const dr: number[] = [];
      for (let r = 0; r < reps; r++) {
        let a0 = { ...agentRelay.count };
        await sendChunks(agent, uploadTopic(), fedavgChunks, aggGot, 'the aggregator to receive the FedAvg state');
        await settle(agentRelay);
        us.push(agentRelay.count.toBroker - a0.toBroker);
        ur.push(agentRelay.count.fromBroker - a0.fromBroker);
        a0 = { ...agentRelay.count };
        await sendChunks(aggregator, globalTopic(), fedavgChunks, agentGot, 'the agent to receive the FedAvg state');
        await waitFor(() => agentRelay.count.toBroker - a0.toBroker >= fedavgChunks.length * MQTT_PUBACK_BYTES, "the agent's PUBACKs");
        await settle(agentRelay);
        ds.push(agentRelay.count.toBroker - a0.toBroker);
        dr.push(agentRelay.count.fromBroker - a0.fromBroker);
      }
      fedavg = { upload: exchange(us, ur, expected(uploadTopic())), download: exchange(ds, dr, expected(globalTopic())), chunks: fedavgChunks.length };
    }
    return { key: t.key, label, protocolVersion: agent.protocolVersion, tls: t.scheme === 'mqtts', tlsInfo, agentSetupBytes, upload, download, aggregatorPublish, fedavg };
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

/**
 * Measures every scenario available here (aedes always; mosquitto's fleet config when installed
 * and not skipped), printing progress; `notMeasured` lists what could not be counted.
 */
export async function measureWire(reps: number, noMosquitto: boolean, fedavgChunks: readonly Uint8Array[] | null = null): Promise<{ scenarios: ScenarioResult[]; notMeasured: string[] }> {
  const measure = (t: ScenarioTarget): Promise<ScenarioResult> => measureScenario(t, reps, fedavgChunks);
  const scenarios: ScenarioResult[] = [];
  const notMeasured: string[] = [
    'TCP/IP headers: every TCP segment also carries 40+ bytes of IPv4 + TCP headers (60+ with IPv6), and the receiver sends ACK segments; they are not counted.',
  ];
  console.log(`bench:comm — K = ${COMM_SETTING.K}, d = ${COMM_SETTING.d}, r = ${COMM_SETTING.ratio * 100}% (s = ${COMM_SETTING.s}), experiment '${COMM_SETTING.experiment}', agent '${COMM_SETTING.agent}', ${reps} repetitions per message`);
  {
    const broker = await startEmbeddedBroker({ port: 0 });
    try {
      scenarios.push(
        await measure({
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
  if (!noMosquitto && mosquittoAvailable() && fleetToolsAvailable()) {
    const broker = await startMosquitto({ config: 'fleet', agents: [COMM_SETTING.agent] });
    try {
      const creds = broker.credentials!;
      const common = {
        host: '127.0.0.1',
        version: 5 as const,
        agentCredentials: { username: COMM_SETTING.agent, password: creds[COMM_SETTING.agent]! },
        aggregatorCredentials: { username: 'aggregator', password: creds['aggregator']! },
      };
      scenarios.push(await measure({ ...common, key: 'mosquitto-tcp', label: 'MQTT 5/TCP (mosquitto)', port: broker.port, scheme: 'mqtt', caFile: null }));
      console.log('  measured: mosquitto (fleet config), MQTT 5, plain TCP');
      scenarios.push(
        await measure({ ...common, key: 'mosquitto-tls', label: 'MQTT 5', port: broker.tlsPort!, scheme: 'mqtts', caFile: broker.caFile! }),
      );
      console.log(`  measured: mosquitto (fleet config), MQTT 5, ${scenarios[scenarios.length - 1]!.tlsInfo?.protocol ?? 'TLS'}`);
      scenarios.push(
        await measure({
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
      noMosquitto
        ? 'TLS: skipped (--no-mosquitto), so the TLS record overhead was not measured.'
        : 'TLS: mosquitto (or openssl / mosquitto_passwd) is not available here, so the TLS record overhead was not measured.',
    );
  }
  for (const sc of scenarios) {
    const fa: [string, Exchange][] = sc.fedavg ? [['FedAvg upload', sc.fedavg.upload], ['FedAvg download', sc.fedavg.download]] : [];
    for (const [k, e] of [...Object.entries(sc.upload), ...Object.entries(sc.download), ...fa]) {
      if (new Set(e.totals).size > 1) console.warn(`  note: ${sc.label} ${k}: repetitions differ (${e.totals.join(', ')}); the median is reported`);
      if (e.expected !== null && e.expected !== e.total) console.warn(`  WARNING: ${sc.label} ${k}: measured ${e.total} B, framing arithmetic says ${e.expected} B`);
    }
  }
  return { scenarios, notMeasured };
}
