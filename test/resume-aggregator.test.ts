/**
 * Crash and restart behaviour of the aggregator over the embedded broker (harness:
 * test/helpers/resume.ts):
 *  c. an aggregator stopped mid-round and restarted on the same store resumes the open round,
 *     keeps its accepted upload and takes the one that reached the broker while it was down;
 *  d. a stale upload (closed round) is rejected with E_ROUND and a re-published one with
 *     E_DUPLICATE; neither is averaged in.
 * The agent's side is in test/resume.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { agentFilter, agentTopic } from '../wire/topics.ts';
import { decodeUpload } from '../wire/codec.ts';
import { SKIP, until, deferred, HookedTransport, type RunningAgent, startAgent, type RunningAggregator, startAggregator, experiment, assertAllRoundsComplete, openStoreRound } from './helpers/resume.ts';

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
