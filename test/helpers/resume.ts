/**
 * The harness of the crash-and-restart tests (test/resume.test.ts, test/resume-aggregator.test.ts):
 * in-process agents sharing one engine, the aggregator, SQLite stores on files, and an agent
 * transport whose upload of a chosen round is held at a gate until the test opens it.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Aggregator, type RoundClosed, type RoundOpened, type UploadAccepted, type UploadRejected } from '../../aggregator/aggregator.ts';
import { resolveExperimentConfig, type ExperimentConfig } from '../../aggregator/config.ts';
import { openAggregatorStore, type AggregatorStore } from '../../aggregator/store.ts';
import { MqttAggregatorTransport } from '../../aggregator/transport.ts';
import { Agent, type AgentTransport, type RoundTrained } from '../../agent/agent.ts';
import type { AgentInbound } from '../../agent/agent-types.ts';
import { resolveAgentConfig } from '../../agent/config.ts';
import { openAgentStore, type AgentStore } from '../../agent/store.ts';
import { MqttAgentTransport } from '../../agent/transport.ts';
import { createEngine, type Engine } from '../../models/index.ts';
import { DEFAULT_DATA_DIR } from '../../data/index.ts';
import { type AgentTopic, type AggregatorTopic } from '../../wire/topics.ts';
import { decodeUpload } from '../../wire/codec.ts';
import { memoryLogger, type Logger } from '../../common/logger.ts';

export const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
export const SKIP = !haveData && 'dataset-fashion-mnist not installed';
export const SAMPLES = 60;

let enginePromise: Promise<Engine> | null = null;
export const sharedEngine = (): Promise<Engine> => (enginePromise ??= createEngine({ backend: 'wasm' }));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(pred: () => boolean, what: string, timeoutMs = 90_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

export function roundOf(bytes: Uint8Array): number {
  return decodeUpload(bytes).header.round;
}

/**
 * An AgentTransport around the real MQTT one: before the upload of a chosen round goes out, an
 * async hook runs (a gate the test opens later, or a broker outage).
 */
export class HookedTransport implements AgentTransport {
  reached = false;
  constructor(
    readonly inner: MqttAgentTransport,
    private readonly round: number,
    private readonly beforeUpload: () => Promise<void>,
  ) {}
  onMessage(handler: (kind: AgentInbound, bytes: Uint8Array) => void): void {
    this.inner.onMessage(handler);
  }
  onConnect(handler: () => void): void {
    this.inner.onConnect(handler);
  }
  onDisconnect(handler: () => void): void {
    this.inner.onDisconnect(handler);
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

export interface RunningAgent {
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

export interface AgentSpec {
  id: string;
  client: number;
  clients: number;
  broker: string;
  dir: string;
  experiment: string;
  /** Wrap the MQTT transport (gates, outages). */
  wrap?: (t: MqttAgentTransport, store: AgentStore) => AgentTransport;
  reconnectMs?: number;
}

export async function startAgent(spec: AgentSpec): Promise<RunningAgent> {
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
  const agent = new Agent({ config: cfg, store, transport: spec.wrap ? spec.wrap(transport, store) : transport, engine: await sharedEngine(), logger });
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

export interface RunningAggregator {
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

export async function startAggregator(config: ExperimentConfig, broker: string, storePath: string, logger?: Logger): Promise<RunningAggregator> {
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

export function experiment(id: string, agents: string[], rounds: number): ExperimentConfig {
  return resolveExperimentConfig({
    experiment: id,
    agents,
    rounds,
    totalTrainSamples: agents.length * SAMPLES,
    roundDeadlineMs: 120_000,
    minUploads: agents.length,
  });
}

export function countBy(xs: number[]): Record<number, number> {
  const out: Record<number, number> = {};
  for (const x of xs) out[x] = (out[x] ?? 0) + 1;
  return out;
}

export function assertAllRoundsComplete(store: AggregatorStore, exp: string, rounds: number, agents: number): void {
  const rs = store.rounds(exp);
  assert.deepEqual(
    rs.map((r) => [r.round, r.status, r.uploads]),
    Array.from({ length: rounds }, (_, i) => [i + 1, 'closed', agents]),
  );
  for (let round = 1; round <= rounds; round++) assert.equal(store.uploadsFor(exp, round).length, agents, `uploads stored for round ${round}`);
  assert.equal(store.getExperiment(exp)?.status, 'finished');
}

/** Status of a round as stored on disk (read through a second connection). */
export function openStoreRound(path: string, exp: string): string | null {
  const s = openAggregatorStore(path);
  try {
    const r = s.getExperiment(exp);
    return r ? (s.getRound(exp, r.currentRound)?.status ?? null) : null;
  } finally {
    s.close();
  }
}
