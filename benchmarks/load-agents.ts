/**
 * The load benchmark's simulated agents (one child process, N real MQTT connections): each
 * subscribes to the round, global and its receipt topic; on a ROUND it publishes STATUS and a
 * signed synthetic UPLOAD (QoS 1), resending every `resendMs` until its RECEIPT; it records when
 * it saw each ROUND and GLOBAL. Prints one JSON line with the results. No training.
 * argv: url experiment N rounds K d s resendMs timeoutMs [first [credentials.json ca.crt]]: ids
 * agent-{first}..agent-{first+N-1}. With a credentials file (broker-config/make-fleet-credentials.sh)
 * each agent logs in as its own user (the shipped fleet config: TLS, passwords, ACL); with a CA
 * file it verifies the broker.
 */
import { readFileSync } from 'node:fs';
import mqtt from 'mqtt';
import { aggregatorTopic, agentTopic, receiptTopic } from '../wire/topics.ts';
import { peekHeader, decodeReceipt } from '../wire/codec.ts';
import { MessageType } from '../wire/codec-types.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { Rng } from '../common/rng.ts';
import { syntheticStatus, syntheticUpload } from './load-uploads.ts';

const [url, experiment, nText, roundsText, kText, dText, sText, resendText, timeoutText, firstText, credentialsFile, caFile] = process.argv.slice(2);
const FIRST = Number(firstText ?? 0);
const credentials = credentialsFile ? (JSON.parse(readFileSync(credentialsFile, 'utf8')) as Record<string, string>) : null;
const ca = caFile ? readFileSync(caFile) : undefined;
const N = Number(nText);
const rounds = Number(roundsText);
const shape = { experiment: experiment!, K: Number(kText), d: Number(dText), s: Number(sText) };
const resendMs = Number(resendText);
const timeoutMs = Number(timeoutText);

interface Sim {
  id: string;
  client: mqtt.MqttClient;
  roundSeen: Map<number, number>;
  globalSeen: Map<number, number>;
  receipted: Set<number>;
  sends: number;
}

const t0 = Date.now();
const sims: Sim[] = [];
let connected = 0;
let connectDone = 0;
const rng = new Rng(7);

function onRound(sim: Sim, signer: ReturnType<typeof ed25519Signer>, round: number): void {
  if (sim.roundSeen.has(round) || round > rounds) return;
  sim.roundSeen.set(round, Date.now());
  const bytes = Buffer.from(syntheticUpload(shape, sim.id, round, rng, signer));
  void sim.client.publishAsync(agentTopic(experiment!, 'status', sim.id), Buffer.from(syntheticStatus(experiment!, sim.id, round, 'uploading', signer)), { qos: 1 }).catch(() => undefined);
  const send = (): void => {
    if (sim.receipted.has(round)) return;
    sim.sends++;
    void sim.client.publishAsync(agentTopic(experiment!, 'upload', sim.id), bytes, { qos: 1 }).catch(() => undefined);
    setTimeout(send, resendMs + rng.int(resendMs)).unref();
  };
  send();
}

async function start(i: number): Promise<void> {
  const id = `agent-${FIRST + i}`;
  const key = generateSigningKey();
  const signer = ed25519Signer(key.privateKeyPem);
  const login = credentials ? { username: id, password: credentials[id] ?? '' } : {};
  const tls = ca ? { ca, rejectUnauthorized: true } : {};
  const client = mqtt.connect(url!, { clientId: `${experiment}:${id}`, clean: false, protocolVersion: 4, reconnectPeriod: 1000, connectTimeout: 60_000, keepalive: 120, ...login, ...tls });
  const sim: Sim = { id, client, roundSeen: new Map(), globalSeen: new Map(), receipted: new Set(), sends: 0 };
  sims.push(sim);
  client.on('message', (topic, payload) => {
    try {
      const h = peekHeader(payload);
      if (h.type === MessageType.Round) onRound(sim, signer, h.round);
      else if (h.type === MessageType.Global) {
        if (!sim.globalSeen.has(h.round)) sim.globalSeen.set(h.round, Date.now());
      } else if (h.type === MessageType.Receipt) {
        const r = decodeReceipt(payload);
        if (r.body.agent === id && (r.body.outcome === 'accepted' || r.body.outcome === 'duplicate')) sim.receipted.add(r.header.round);
      }
    } catch {
      // not ours
    }
  });
  await new Promise<void>((resolve) => {
    client.once('connect', () => {
      connected++;
      void client
        .subscribeAsync([aggregatorTopic(experiment!, 'round'), aggregatorTopic(experiment!, 'global'), receiptTopic(experiment!, id)], { qos: 1 })
        .then(() => {
          connectDone++;
          resolve();
        }, () => resolve());
    });
  });
}

// connect in waves of 200 so the broker's accept queue is not flooded
for (let i = 0; i < N; i += 200) await Promise.all(Array.from({ length: Math.min(200, N - i) }, (_, k) => start(i + k)));
const connectMs = Date.now() - t0;
process.stdout.write(JSON.stringify({ event: 'connected', connected, subscribed: connectDone, connectMs }) + '\n');
const deadline = Date.now() + timeoutMs;
while (Date.now() < deadline && !sims.every((s) => s.globalSeen.has(rounds) && s.receipted.has(rounds))) await new Promise((r) => setTimeout(r, 100));
const perRound = Array.from({ length: rounds }, (_, k) => {
  const r = k + 1;
  const roundTimes = sims.map((s) => s.roundSeen.get(r)).filter((x): x is number => x !== undefined);
  const globals = sims.map((s) => s.globalSeen.get(r)).filter((x): x is number => x !== undefined);
  return {
    round: r,
    sawRound: roundTimes.length,
    sawGlobal: globals.length,
    receipted: sims.filter((s) => s.receipted.has(r)).length,
    roundMs: roundTimes.length && globals.length ? Math.max(...globals) - Math.min(...roundTimes) : null,
  };
});
process.stdout.write(JSON.stringify({ event: 'done', connectMs, sends: sims.reduce((a, s) => a + s.sends, 0), perRound }) + '\n');
await Promise.all(sims.map((s) => s.client.endAsync(true).catch(() => undefined)));
process.exit(0);
