import { test } from 'node:test';
import assert from 'node:assert/strict';
import mqtt from 'mqtt';
import { startEmbeddedBroker } from './broker.ts';
import { MqttSession, type MqttConnectFn, type MessageAck } from './session.ts';

function session(url: string, holdAcks: boolean): MqttSession {
  return new MqttSession({
    settings: { url, clientId: 'held-acks-test', username: null, password: null, caFile: null, certFile: null, keyFile: null, version: 'auto', sessionExpirySeconds: 3600, connectTimeoutMs: 5000 },
    subscriptions: ['held/#'],
    connect: mqtt.connect as unknown as MqttConnectFn,
    holdAcks,
  });
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

test('holdAcks: messages keep flowing while unacknowledged; the broker redelivers exactly the ones not acknowledged', async () => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const pub = mqtt.connect(broker.url, { clientId: 'held-acks-pub' });
  try {
    await new Promise((r) => pub.on('connect', r));
    const first = session(broker.url, true);
    const acks = new Map<string, MessageAck>();
    first.onMessage((topic, _b, ack) => acks.set(topic, ack));
    await first.start();
    for (let i = 0; i < 6; i++) await pub.publishAsync(`held/${i}`, 'x', { qos: 1 });
    for (let k = 0; k < 100 && acks.size < 6; k++) await sleep(10);
    assert.equal(acks.size, 6, 'all six arrived although none was acknowledged');
    for (const i of [0, 2, 4]) acks.get(`held/${i}`)!();
    acks.get('held/0')!(); // idempotent
    await sleep(100);
    await first.close();

    const second = session(broker.url, true);
    const again: string[] = [];
    second.onMessage((topic, _b, ack) => {
      again.push(topic);
      ack();
    });
    await second.start();
    for (let k = 0; k < 100 && again.length < 3; k++) await sleep(10);
    await sleep(100);
    assert.deepEqual(again.sort(), ['held/1', 'held/3', 'held/5']);
    await second.close();

    const third = session(broker.url, false);
    const none: string[] = [];
    third.onMessage((topic) => none.push(topic));
    await third.start();
    await sleep(200);
    assert.deepEqual(none, [], 'acknowledged messages are not redelivered');
    await third.close();
  } finally {
    await pub.endAsync();
    await broker.close();
  }
});
