/**
 * Crash and restart behaviour over the embedded broker, with in-process agents sharing one
 * engine and SQLite stores on files:
 *  a. an agent restarted mid-experiment resumes from its checkpoint and never retrains a round;
 *  b. an upload made while the broker is down stays in the outbox (pending) and is delivered
 *     exactly once when the agent reconnects to a restarted broker on the same port;
 *  c. an aggregator stopped mid-round and restarted on the same store resumes the open round,
 *     keeps its accepted upload and takes the one that reached the broker while it was down;
 *  d. a stale upload (closed round) is rejected with E_ROUND and a re-published one with
 *     E_DUPLICATE; neither is averaged in.
 *
 * Timing is controlled by wrapping an agent's transport: its upload of a chosen round is held
 * at a gate until the test opens it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator, type RoundClosed, type RoundOpened, type UploadAccepted, type UploadRejected } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore, type AggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { Agent, type AgentTransport, type RoundTrained } from '../agent/agent.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { openAgentStore, type AgentStore } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { createEngine, type Engine } from '../models/index.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { agentFilter, agentTopic, type AgentTopic, type AggregatorTopic } from '../wire/topics.ts';
import { decodeUpload } from '../wire/codec.ts';
import { memoryLogger, type Logger } from '../common/logger.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const SKIP = !haveData && 'dataset-fashion-mnist not installed';
const SAMPLES = 60;

let enginePromise: Promise<Engine> | null = null;
const sharedEngine = (): Promise<Engine> => (enginePromise ??= createEngine({ backend: 'wasm' }));

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until(pred: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

function roundOf(bytes: Uint8Array): number {
  return decodeUpload(bytes).header.round;
}

/**
 * An AgentTransport around the real MQTT one: before the upload of a chosen round goes out, an
 * async hook runs (a gate the test opens later, or a broker outage).
 */
class HookedTransport implements AgentTransport {
  reached = false;
  constructor(
    readonly inner: MqttAgentTransport,
    private readonly round: number,
    private readonly beforeUpload: () => Promise<void>,
  ) {}
  onMessage(handler: (kind: AggregatorTopic, bytes: Uint8Array) => void): void {
    this.inner.onMessage(handler);
  }
  onConnect(handler: () => void): void {
    this.inner.onConnect(handler);
  }
  async publish(kind: AgentTopic, bytes: Uint8Array, retain: boolean): Promise<void> {
    if (kind === 'upload' && roundOf(bytes) === this.round && !this.reached) {
      this.reached = true;
      await this.beforeUpload();
    }
    return this.inner.publish(kind, bytes, retain);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  get counters(): { bytesSent: number; bytesReceived: number } {
    return this.inner.counters;
  }
}

interface RunningAgent {
  id: string;
  agent: Agent;
  transport: MqttAgentTransport;
  store: AgentStore;
  logger: ReturnType<typeof memoryLogger>;
  trained: number[];
  uploaded: { round: number; attempts: number }[];
  evaluated: number[];
  lastCompletedAtStart: number;
  stop(): Promise<void>;
}

interface AgentSpec {
  id: string;
  client: number;
  clients: number;
  broker: string;
  dir: string;
  experiment: string;
  /** Wrap the MQTT transport (gates, outages). */
  wrap?: (t: MqttAgentTransport) => AgentTransport;
  reconnectMs?: number;
}

async function startAgent(spec: AgentSpec): Promise<RunningAgent> {
  const cfg = resolveAgentConfig({
    id: spec.id,
    experiment: spec.experiment,
    broker: spec.broker,
    client: spec.client,
    clients: spec.clients,
    alpha: 1,
    seed: 3,
    samplesPerClient: SAMPLES,
    family: 'resnet8',
    store: join(spec.dir, `${spec.id}.db`),
    ...(spec.reconnectMs !== undefined ? { reconnectMinMs: spec.reconnectMs, reconnectMaxMs: spec.reconnectMs } : {}),
  });
  const store = openAgentStore(cfg.store);
  const logger = memoryLogger();
  const transport = new MqttAgentTransport(cfg, Agent.willMessage(cfg, store.lastCompletedRound(cfg.experiment), 'resnet8'));
  const agent = new Agent({ config: cfg, store, transport: spec.wrap ? spec.wrap(transport) : transport, engine: await sharedEngine(), logger });
  const r: RunningAgent = {
    id: spec.id,
    agent,
    transport,
    store,
    logger,
    trained: [],
    uploaded: [],
    evaluated: [],
    lastCompletedAtStart: 0,
    stop: async () => undefined,
  };
  agent.on('trained', (t: RoundTrained) => r.trained.push(t.round));
  agent.on('uploaded', (u: { round: number; attempts: number }) => r.uploaded.push({ round: u.round, attempts: u.attempts }));
  agent.on('evaluated', (e: { round: number }) => r.evaluated.push(e.round));
  let stopping: Promise<void> | null = null;
  r.stop = () =>
    (stopping ??= (async () => {
      await agent.stop();
      await transport.close();
      store.close();
    })());
  try {
    await agent.start();
    r.lastCompletedAtStart = agent.lastCompletedRound;
    await transport.start();
  } catch (e) {
    await r.stop().catch(() => undefined);
    throw e;
  }
  return r;
}

interface RunningAggregator {
  aggregator: Aggregator;
  transport: MqttAggregatorTransport;
  store: AggregatorStore;
  opened: RoundOpened[];
  uploads: UploadAccepted[];
  rejected: UploadRejected[];
  closed: RoundClosed[];
  finished: boolean;
  stop(): Promise<void>;
}

async function startAggregator(config: ExperimentConfig, broker: string, storePath: string, logger?: Logger): Promise<RunningAggregator> {
  const store = openAggregatorStore(storePath);
  const transport = new MqttAggregatorTransport(config.experiment, { broker, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: 'auto' });
  const aggregator = new Aggregator({ config, store, transport, ...(logger ? { logger } : {}) });
  const r: RunningAggregator = { aggregator, transport, store, opened: [], uploads: [], rejected: [], closed: [], finished: false, stop: async () => undefined };
  aggregator.on('roundOpened', (e: RoundOpened) => r.opened.push(e));
  aggregator.on('upload', (e: UploadAccepted) => r.uploads.push(e));
  aggregator.on('rejected', (e: UploadRejected) => r.rejected.push(e));
  aggregator.on('roundClosed', (e: RoundClosed) => r.closed.push(e));
  aggregator.on('finished', () => (r.finished = true));
  let stopping: Promise<void> | null = null;
  r.stop = () =>
    (stopping ??= (async () => {
      await aggregator.stop();
      await transport.close();
      store.close();
    })());
  try {
    await transport.start();
    await aggregator.start();
  } catch (e) {
    await r.stop().catch(() => undefined);
    throw e;
  }
  return r;
}

function experiment(id: string, agents: string[], rounds: number): ExperimentConfig {
  return resolveExperimentConfig({
    experiment: id,
    agents,
    rounds,
    totalTrainSamples: agents.length * SAMPLES,
    roundDeadlineMs: 120_000,
    minUploads: agents.length,
  });
}

function countBy(xs: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

function assertAllRoundsComplete(store: AggregatorStore, exp: string, rounds: number, agents: number): void {
  const rs = store.rounds(exp);
  assert.deepEqual(
    rs.map((r) => [r.round, r.status, r.uploads]),
    Array.from({ length: rounds }, (_, i) => [i + 1, 'closed', agents]),
  );
  for (let round = 1; round <= rounds; round++) assert.equal(store.uploadsFor(exp, round).length, agents, `uploads stored for round ${round}`);
  assert.equal(store.getExperiment(exp)?.status, 'finished');
}

test('an agent restarted mid-experiment resumes from its checkpoint and never retrains a round', { skip: SKIP, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-a-'));
  const exp = experiment('resume-a', ['agent-0', 'agent-1'], 3);
  const broker = await startEmbeddedBroker({ port: 0 });
  const agents: RunningAgent[] = [];
  let agg: RunningAggregator | null = null;
  // agent-0's round-1 upload waits until agent-1 has been restarted: round 1 stays open meanwhile
  const gate0 = deferred();
  try {
    agg = await startAggregator(exp, broker.url, join(dir, 'aggregator.db'));
    const common = { clients: 2, broker: broker.url, dir, experiment: exp.experiment };
    const a0 = await startAgent({ ...common, id: 'agent-0', client: 0, wrap: (t) => new HookedTransport(t, 1, () => gate0.promise) });
    agents.push(a0);
    const first = await startAgent({ ...common, id: 'agent-1', client: 1 });
    agents.push(first);
    assert.equal(first.lastCompletedAtStart, 0);
    await until(() => first.uploaded.some((u) => u.round === 1), 'agent-1 to upload round 1');
    await first.stop();
    assert.deepEqual(first.trained, [1]);
    assert.equal(agg.uploads.filter((u) => u.round === 1 && u.agent === 'agent-1').length, 1);

    const second = await startAgent({ ...common, id: 'agent-1', client: 1 });
    agents.push(second);
    assert.equal(second.lastCompletedAtStart, 1, 'the new agent starts from the stored progress');
    assert.ok(
      second.logger.entries.some((e) => e.msg === 'resumed from checkpoint' && e.fields?.['round'] === 1),
      'the new agent loaded the round-1 checkpoint',
    );
    gate0.resolve();
    await agg.aggregator.done;
    assert.ok(agg.finished, 'experiment finished');
    await Promise.all(agents.slice(1).map((a) => a.agent.idle()));

    assert.deepEqual(countBy([...first.trained, ...second.trained]), { 1: 1, 2: 1, 3: 1 }, 'agent-1 trained each round exactly once');
    assert.ok(!second.trained.includes(1) && !second.uploaded.some((u) => u.round === 1), 'the restarted agent did not redo round 1');
    assert.deepEqual(countBy(a0.trained), { 1: 1, 2: 1, 3: 1 });
    assert.deepEqual(agg.closed.map((c) => [c.round, c.uploads, c.selected]), [[1, 2, 2], [2, 2, 2], [3, 2, 2]]);
    assert.deepEqual(agg.rejected, [], 'nothing rejected (no duplicate upload)');
    assert.deepEqual(agg.store.rejectionCounts(exp.experiment), {});
    assertAllRoundsComplete(agg.store, exp.experiment, 3, 2);
    assert.equal(second.store.lastCompletedRound(exp.experiment), 3);
    assert.equal(second.store.pendingUploads(exp.experiment).length, 0);
  } finally {
    gate0.resolve();
    for (const a of agents) await a.stop().catch(() => undefined);
    await agg?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an upload made while the broker is down stays pending in the outbox and is delivered exactly once after reconnecting', { skip: SKIP, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-b-'));
  const exp = experiment('resume-b', ['agent-0'], 2);
  let broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0 });
  const port = broker.port;
  let agg: RunningAggregator | null = null;
  let a0: RunningAgent | null = null;
  const outage = deferred();
  try {
    agg = await startAggregator(exp, broker.url, join(dir, 'aggregator.db'));
    // the agent reconnects after a fixed 2.5 s; the aggregator's first retry is after 0.5 s, so it
    // is back (and resubscribed to the new broker, which kept no sessions) before the agent is
    const brokerToClose = broker;
    a0 = await startAgent({
      id: 'agent-0',
      client: 0,
      clients: 1,
      broker: broker.url,
      dir,
      experiment: exp.experiment,
      reconnectMs: 2500,
      wrap: (t) =>
        new HookedTransport(t, 1, async () => {
          await brokerToClose.close();
          await sleep(100);
          outage.resolve();
        }),
    });
    const agent = a0;
    await outage.promise;
    // the broker is gone, the upload of round 1 was handed to the MQTT client: not acknowledged
    await sleep(150);
    assert.deepEqual(agent.trained, [1]);
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'pending');
    assert.deepEqual(agent.store.pendingUploads(exp.experiment).map((p) => p.round), [1]);
    assert.deepEqual(agent.uploaded, []);
    assert.equal(agg.store.uploadsFor(exp.experiment, 1).length, 0);
    assert.equal(agent.transport.counters.reconnects, 0);

    broker = await startEmbeddedBroker({ port });
    const aggregator = agg;
    await until(() => aggregator.transport.counters.reconnects >= 1, 'the aggregator to reconnect', 20_000);
    assert.equal(agent.transport.counters.reconnects, 0, 'the agent is still offline when the aggregator is back');
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'pending');

    await agg.aggregator.done;
    assert.ok(agg.finished);
    await agent.agent.idle();
    assert.ok(agent.transport.counters.reconnects >= 1, 'the agent reconnected');
    assert.deepEqual(agg.uploads.map((u) => [u.round, u.agent]), [[1, 'agent-0'], [2, 'agent-0']], 'each upload accepted once');
    assert.deepEqual(agent.uploaded, [{ round: 1, attempts: 1 }, { round: 2, attempts: 1 }], 'each upload acknowledged once');
    assert.deepEqual(agg.rejected, []);
    assert.deepEqual(agent.trained, [1, 2]);
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'acked');
    assert.deepEqual(agent.store.pendingUploads(exp.experiment), []);
    assertAllRoundsComplete(agg.store, exp.experiment, 2, 1);
  } finally {
    outage.resolve();
    await a0?.stop().catch(() => undefined);
    await agg?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an aggregator stopped mid-round resumes the open round from its store and finishes', { skip: SKIP, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-c-'));
  const exp = experiment('resume-c', ['agent-0', 'agent-1'], 2);
  const storePath = join(dir, 'aggregator.db');
  const broker = await startEmbeddedBroker({ port: 0 });
  const agents: RunningAgent[] = [];
  let first: RunningAggregator | null = null;
  let second: RunningAggregator | null = null;
  // agent-1's round-2 upload is held until the aggregator is down
  const gate1 = deferred();
  try {
    first = await startAggregator(exp, broker.url, storePath);
    const common = { clients: 2, broker: broker.url, dir, experiment: exp.experiment };
    agents.push(await startAgent({ ...common, id: 'agent-0', client: 0 }));
    let hook: HookedTransport | null = null;
    const a1 = await startAgent({ ...common, id: 'agent-1', client: 1, wrap: (t) => (hook = new HookedTransport(t, 2, () => gate1.promise)) });
    agents.push(a1);
    const agg1 = first;
    await until(() => agg1.uploads.some((u) => u.round === 2 && u.agent === 'agent-0'), "agent-0's round-2 upload");
    await until(() => hook!.reached, "agent-1's round-2 upload to reach the gate");
    assert.deepEqual(agg1.closed.map((c) => c.round), [1]);
    await first.stop();
    assert.equal(openStoreRound(storePath, exp.experiment), 'open');

    // the upload reaches the broker while no aggregator is connected: its persistent session queues it
    gate1.resolve();
    await until(() => a1.uploaded.some((u) => u.round === 2), "the broker to acknowledge agent-1's round-2 upload", 30_000);

    second = await startAggregator(exp, broker.url, storePath);
    const agg2 = second;
    await agg2.aggregator.done;
    assert.ok(agg2.finished, 'the restarted aggregator finished the experiment');
    assert.deepEqual(agg2.opened.map((o) => [o.round, o.resumed]), [[2, true]], 'round 2 resumed, no round re-opened');
    assert.deepEqual(agg2.uploads.map((u) => [u.round, u.agent, u.accepted, u.expected]), [[2, 'agent-1', 2, 2]], 'only the missing upload was taken');
    assert.deepEqual(agg2.closed.map((c) => [c.round, c.uploads]), [[2, 2]]);
    assert.deepEqual([...agg1.rejected, ...agg2.rejected], []);
    assertAllRoundsComplete(agg2.store, exp.experiment, 2, 2);
    for (const a of agents) {
      await a.agent.idle();
      assert.deepEqual(a.trained, [1, 2], `${a.id} trained each round once`);
      assert.deepEqual(a.store.pendingUploads(exp.experiment), []);
    }
    await until(() => agents.every((a) => a.evaluated.includes(2)), 'both agents to evaluate round 2', 30_000);
  } finally {
    gate1.resolve();
    for (const a of agents) await a.stop().catch(() => undefined);
    await first?.stop().catch(() => undefined);
    await second?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Status of a round as stored on disk (read through a second connection). */
function openStoreRound(path: string, exp: string): string | null {
  const s = openAggregatorStore(path);
  try {
    const r = s.getExperiment(exp);
    return r ? (s.getRound(exp, r.currentRound)?.status ?? null) : null;
  } finally {
    s.close();
  }
}

test('a stale upload is rejected with E_ROUND and a duplicate with E_DUPLICATE; neither is averaged in', { skip: SKIP, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-d-'));
  const exp = experiment('resume-d', ['agent-0', 'agent-1'], 2);
  const broker = await startEmbeddedBroker({ port: 0 });
  const agents: RunningAgent[] = [];
  let agg: RunningAggregator | null = null;
  let spy: mqtt.MqttClient | null = null;
  let raw: mqtt.MqttClient | null = null;
  const gate1 = deferred();
  try {
    agg = await startAggregator(exp, broker.url, join(dir, 'aggregator.db'));
    // records every upload as it crossed the broker
    const seen = new Map<string, Buffer>();
    spy = await mqtt.connectAsync(broker.url, { clientId: 'spy', reconnectPeriod: 0 });
    spy.on('message', (_topic, payload) => {
      const h = decodeUpload(payload).header;
      if (!seen.has(`${h.sender}:${h.round}`)) seen.set(`${h.sender}:${h.round}`, Buffer.from(payload));
    });
    await spy.subscribeAsync(agentFilter(exp.experiment, 'upload'), { qos: 1 });
    const common = { clients: 2, broker: broker.url, dir, experiment: exp.experiment };
    agents.push(await startAgent({ ...common, id: 'agent-0', client: 0 }));
    agents.push(await startAgent({ ...common, id: 'agent-1', client: 1, wrap: (t) => new HookedTransport(t, 2, () => gate1.promise) }));
    const a = agg;
    await until(() => a.uploads.some((u) => u.round === 2 && u.agent === 'agent-0') && seen.has('agent-0:1') && seen.has('agent-0:2'), "agent-0's round-2 upload");
    assert.equal(a.aggregator.currentRound, 2);
    assert.equal(a.store.uploadsFor(exp.experiment, 2).length, 1);

    // a raw client, as agent-0, on agent-0's upload topic
    raw = await mqtt.connectAsync(broker.url, { clientId: 'raw-agent-0', reconnectPeriod: 0 });
    const topic = agentTopic(exp.experiment, 'upload', 'agent-0');
    await raw.publishAsync(topic, seen.get('agent-0:1')!, { qos: 1 });
    await until(() => a.rejected.length >= 1, 'the stale upload to be rejected', 20_000);
    await raw.publishAsync(topic, seen.get('agent-0:2')!, { qos: 1 });
    await until(() => a.rejected.length >= 2, 'the duplicate upload to be rejected', 20_000);
    assert.deepEqual(
      a.rejected.map((r) => [r.round, r.agent, r.code]),
      [
        [2, 'agent-0', 'E_ROUND'],
        [2, 'agent-0', 'E_DUPLICATE'],
      ],
    );
    assert.deepEqual(a.store.rejectionCounts(exp.experiment), { E_ROUND: 1, E_DUPLICATE: 1 });
    assert.equal(a.store.uploadsFor(exp.experiment, 2).length, 1, 'the duplicate was not stored');

    gate1.resolve();
    await a.aggregator.done;
    assert.ok(a.finished);
    assertAllRoundsComplete(a.store, exp.experiment, 2, 2);
    const stored = a.store.uploadsFor(exp.experiment, 2);
    assert.deepEqual(stored.map((u) => u.agent).sort(), ['agent-0', 'agent-1']);
    assert.deepEqual(Buffer.from(stored.find((u) => u.agent === 'agent-0')!.bytes), seen.get('agent-0:2'), 'the first round-2 upload of agent-0 is the one kept');
    // the round-2 average was computed from exactly the two stored uploads
    assert.deepEqual(
      a.closed.map((c) => [c.round, c.uploads, c.bytesIn]),
      [1, 2].map((round) => [round, 2, a.store.uploadsFor(exp.experiment, round).reduce((n, u) => n + u.bytes.length, 0)]),
    );
    assert.equal(a.rejected.length, 2, 'nothing else rejected');
  } finally {
    gate1.resolve();
    await raw?.endAsync(true).catch(() => undefined);
    await spy?.endAsync(true).catch(() => undefined);
    for (const x of agents) await x.stop().catch(() => undefined);
    await agg?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
