/**
 * Integration tests for the embedded aedes broker (mqtt/broker.ts) with MQTT.js clients
 * (MQTT 3.1.1, the only version aedes 1.x speaks).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { startEmbeddedBroker, DEFAULT_MAX_PACKET_BYTES, type EmbeddedBroker } from '../mqtt/broker.ts';
import { memoryLogger } from '../common/logger.ts';
import { connectClient, sleep, subscribe, withTimeout, type TestClient } from './helpers/mqtt.ts';

const T = 5000;
const EXP = 'exp-embedded';

function tcpAccepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(false);
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}

describe('embedded aedes broker', { timeout: 60_000 }, () => {
  let broker: EmbeddedBroker;
  const logger = memoryLogger();
  const open: TestClient[] = [];

  async function client(clientId: string, extra: Parameters<typeof connectClient>[1] = {}): Promise<TestClient> {
    const c = await connectClient(broker.url, { clientId, ...extra }, T);
    open.push(c);
    return c;
  }

  before(async () => {
    broker = await startEmbeddedBroker({ port: 0, logger });
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
    await broker?.close();
  });

  it('listens on a free loopback port and reports stats', async () => {
    assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(broker.port, 0);
    assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
    const before = broker.stats();
    const c = await client('stats-1');
    assert.equal(broker.stats().clients, before.clients + 1);
    await c.client.publishAsync(`tinyproto/${EXP}/telemetry/stats-1`, 'x', { qos: 1 });
    assert.equal(broker.stats().published, before.published + 1);
    await c.end();
    await withTimeout(
      (async () => {
        while (broker.stats().clients !== before.clients) await sleep(10);
      })(),
      T,
      'client count to drop',
    );
  });

  it('delivers QoS 1 messages', async () => {
    const agg = await client('aggregator-q1');
    await subscribe(agg, ['tinyproto/+/upload/+'], 1);
    const agent = await client('agent-q1');
    const topic = `tinyproto/${EXP}/upload/agent-q1`;
    const payload = Buffer.from([1, 2, 3, 4]);
    await agent.client.publishAsync(topic, payload, { qos: 1 });
    const m = await agg.waitFor((x) => x.topic === topic, T, 'QoS 1 upload');
    assert.equal(m.qos, 1);
    assert.deepEqual(m.payload, payload);
  });

  it('delivers retained messages to late subscribers (latest value only)', async () => {
    const agg = await client('aggregator-retain');
    const topic = `tinyproto/${EXP}/global`;
    await agg.client.publishAsync(topic, 'round-1', { qos: 1, retain: true });
    await agg.client.publishAsync(topic, 'round-2', { qos: 1, retain: true });
    const late = await client('agent-late');
    await subscribe(late, [`tinyproto/${EXP}/global`, `tinyproto/${EXP}/masks`], 1);
    const m = await late.waitFor((x) => x.topic === topic, T, 'retained global');
    assert.equal(m.payload.toString(), 'round-2');
    assert.equal(m.retain, true);
    assert.equal(m.qos, 1);
    await sleep(50);
    assert.equal(late.messages.filter((x) => x.topic === topic).length, 1);
  });

  it('a persistent session (clean: false) receives QoS 1 messages published while it was offline', async () => {
    const topic = `tinyproto/${EXP}/round`;
    const first = await connectClient(broker.url, { clientId: 'agent-persist', clean: false }, T);
    try {
      assert.equal(first.sessionPresent, false);
      await subscribe(first, [topic], 1);
    } finally {
      await first.end();
    }
    const agg = await client('aggregator-persist');
    for (let i = 1; i <= 3; i++) await agg.client.publishAsync(topic, `offline-${i}`, { qos: 1 });
    await agg.client.publishAsync(topic, 'offline-qos0', { qos: 0 });

    const again = await client('agent-persist', { clean: false });
    assert.equal(again.sessionPresent, true);
    // No new SUBSCRIBE: the session's subscription and queued messages survived.
    for (let i = 1; i <= 3; i++) {
      const m = await again.waitFor((x) => x.payload.toString() === `offline-${i}`, T, `queued message ${i}`);
      assert.equal(m.qos, 1);
    }
    assert.deepEqual(
      again.messages.map((x) => x.payload.toString()).filter((p) => p.startsWith('offline-') && p !== 'offline-qos0'),
      ['offline-1', 'offline-2', 'offline-3'],
    );
    // And live delivery still works on the resumed session.
    await agg.client.publishAsync(topic, 'live', { qos: 1 });
    await again.waitFor((x) => x.payload.toString() === 'live', T, 'live message');
  });

  it("publishes a client's last will when its socket is destroyed, but not after a clean disconnect", async () => {
    const agg = await client('aggregator-will');
    await subscribe(agg, ['tinyproto/+/status/+'], 1);
    const willTopic = `tinyproto/${EXP}/status/agent-will`;
    const agent = await connectClient(
      broker.url,
      { clientId: 'agent-will', will: { topic: willTopic, payload: Buffer.from('offline'), qos: 1, retain: true } },
      T,
    );
    try {
      agent.client.stream.destroy();
      const m = await agg.waitFor((x) => x.topic === willTopic, T, 'last will');
      assert.equal(m.payload.toString(), 'offline');
    } finally {
      await agent.end();
    }
    // Retained will reaches a late subscriber too.
    const late = await client('aggregator-will-late');
    await subscribe(late, [willTopic], 1);
    const retained = await late.waitFor((x) => x.topic === willTopic, T, 'retained will');
    assert.equal(retained.retain, true);

    const politeTopic = `tinyproto/${EXP}/status/agent-polite`;
    const polite = await connectClient(
      broker.url,
      { clientId: 'agent-polite', will: { topic: politeTopic, payload: Buffer.from('offline'), qos: 1, retain: false } },
      T,
    );
    await new Promise<void>((resolve) => polite.client.end(false, {}, () => resolve()));
    await sleep(200);
    assert.equal(agg.messages.some((x) => x.topic === politeTopic), false);
  });

  it(`accepts a 262144-byte payload and disconnects clients sending packets over ${DEFAULT_MAX_PACKET_BYTES} bytes`, async () => {
    const agg = await client('aggregator-size');
    await subscribe(agg, ['tinyproto/+/upload/+'], 1);
    const topic = `tinyproto/${EXP}/upload/agent-size`;
    const agent = await client('agent-size');
    await agent.client.publishAsync(topic, Buffer.alloc(262_144, 9), { qos: 1 });
    const ok = await agg.waitFor((x) => x.topic === topic && x.payload.length === 262_144, T, 'max payload');
    assert.equal(ok.payload[0], 9);

    const closed = new Promise<void>((resolve) => agent.client.once('close', () => resolve()));
    agent.client.publish(topic, Buffer.alloc(DEFAULT_MAX_PACKET_BYTES, 1), { qos: 0 });
    await withTimeout(closed, T, 'oversized packet to disconnect the client');
    assert.ok(
      logger.entries.some((e) => e.level === 'warn' && new RegExp(`exceeds the ${DEFAULT_MAX_PACKET_BYTES}-byte limit`).test(String(e.fields?.['reason']))),
      'guard logged the violation',
    );
    // The broker is unaffected for everyone else.
    const other = await client('agent-size-2');
    await other.client.publishAsync(`tinyproto/${EXP}/upload/agent-size-2`, 'small', { qos: 1 });
    await agg.waitFor((x) => x.payload.toString() === 'small', T, 'message after oversize');
    assert.equal(agg.messages.some((x) => x.payload.length === DEFAULT_MAX_PACKET_BYTES), false);
  });
});

describe('embedded broker lifecycle', { timeout: 30_000 }, () => {
  it('close() disconnects clients, frees the port and is idempotent', async () => {
    const broker = await startEmbeddedBroker({ port: 0 });
    const c = await connectClient(broker.url, { clientId: 'closing' }, T);
    // A raw TCP connection that never sends CONNECT must not keep close() waiting.
    const raw = createConnection({ host: '127.0.0.1', port: broker.port });
    await new Promise<void>((resolve, reject) => {
      raw.once('connect', () => resolve());
      raw.once('error', reject);
    });
    raw.on('error', () => {});
    try {
      const clientClosed = new Promise<void>((resolve) => c.client.once('close', () => resolve()));
      await withTimeout(broker.close(), T, 'broker.close()');
      await withTimeout(clientClosed, T, 'client to see the close');
      assert.equal(await tcpAccepts(broker.port), false);
      await withTimeout(broker.close(), T, 'second close()');
    } finally {
      raw.destroy();
      await c.end();
    }
  });

  it('rejects when the port is taken', async () => {
    const a = await startEmbeddedBroker({ port: 0 });
    try {
      await assert.rejects(startEmbeddedBroker({ port: a.port }), /EADDRINUSE/);
    } finally {
      await a.close();
    }
  });
});
