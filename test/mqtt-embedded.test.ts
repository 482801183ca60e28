/**
 * End to end over the embedded broker (aedes, MQTT 3.1.1): an aggregator and two agents run a
 * short TinyProto experiment on real Fashion-MNIST shards, with SQLite stores; a malformed upload
 * injected by a raw client is rejected and counted while the round still completes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { Agent } from '../agent/agent.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { openAgentStore } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { createEngine } from '../models/index.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { agentTopic } from '../wire/topics.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

test('aggregator and two agents complete rounds over the embedded broker', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-e2e-'));
  const broker = await startEmbeddedBroker({ port: 0 });
  const engine = await createEngine({ backend: 'wasm' });
  const agents = ['agent-0', 'agent-1'];
  const exp = resolveExperimentConfig({ experiment: 'e2e', agents, rounds: 2, totalTrainSamples: 2 * 60, roundDeadlineMs: 120_000, minUploads: 2 });
  const aggStore = openAggregatorStore(join(dir, 'aggregator.db'));
  const aggTransport = new MqttAggregatorTransport('e2e', { broker: broker.url, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: 'auto' });
  const aggregator = new Aggregator({ config: exp, store: aggStore, transport: aggTransport });
  const closed: number[] = [];
  const rejected: string[] = [];
  aggregator.on('roundClosed', (r: { round: number }) => closed.push(r.round));
  aggregator.on('rejected', (r: { code: string }) => rejected.push(r.code));
  const running: { agent: Agent; transport: MqttAgentTransport; store: ReturnType<typeof openAgentStore> }[] = [];
  let raw: mqtt.MqttClient | null = null;
  try {
    await aggTransport.start();
    assert.equal(aggTransport.protocolVersion, 4, 'aedes speaks MQTT 3.1.1: MQTT 5 refused, fell back');
    await aggregator.start();
    // a raw client injects garbage as agent-1 before the agents start
    raw = await mqtt.connectAsync(broker.url, { clientId: 'intruder' });
    await raw.publishAsync(agentTopic('e2e', 'upload', 'agent-1'), Buffer.from('not a tinyproto message'), { qos: 1 });
    for (let i = 0; i < agents.length; i++) {
      const cfg = resolveAgentConfig({ id: agents[i]!, experiment: 'e2e', broker: broker.url, client: i, clients: 2, alpha: 1, seed: 3, samplesPerClient: 80, store: join(dir, `${agents[i]}.db`) });
      const store = openAgentStore(cfg.store);
      const transport = new MqttAgentTransport(cfg, Agent.willMessage(cfg, 0, 'resnet8'));
      const agent = new Agent({ config: cfg, store, transport, engine });
      await agent.start();
      await transport.start();
      running.push({ agent, transport, store });
    }
    await aggregator.done;
    assert.deepEqual(closed, [1, 2]);
    assert.ok(rejected.length >= 1 && rejected.every((c) => c.startsWith('E_CODEC')), `rejections: ${rejected.join(',')}`);
    const counts = aggStore.rejectionCounts('e2e');
    assert.ok(Object.keys(counts).some((k) => k.startsWith('E_CODEC')));
    const rounds = aggStore.rounds('e2e');
    assert.equal(rounds.length, 2);
    assert.ok(rounds.every((r) => r.status === 'closed' && r.uploads === 2));
    for (const r of running) {
      await r.agent.idle();
      assert.equal(r.store.lastCompletedRound('e2e'), 2);
      // an upload leaves the outbox when the aggregator's receipt for it arrives (it may still be on its way)
      const end = Date.now() + 10_000;
      while (r.store.pendingUploads('e2e').length > 0 && Date.now() < end) await new Promise((res) => setTimeout(res, 25));
      assert.equal(r.store.pendingUploads('e2e').length, 0);
    }
  } finally {
    await raw?.endAsync().catch(() => undefined);
    for (const r of running) {
      await r.agent.stop();
      await r.transport.close();
      r.store.close();
    }
    await aggregator.stop();
    await aggTransport.close();
    aggStore.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
