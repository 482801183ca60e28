import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, mqttClientOptions, versionsToTry } from './options.ts';

const base = {
  url: 'mqtt://127.0.0.1:1883',
  clientId: 'agent-1',
  username: 'agent-1',
  password: 'pw',
  caFile: null,
  certFile: null,
  keyFile: null,
  version: 'auto' as const,
  sessionExpirySeconds: 3600,
  connectTimeoutMs: 5000,
};

test('persistent sessions, credentials, will and MQTT 5 session expiry', () => {
  const o = mqttClientOptions({ ...base, will: { topic: 't', payload: new Uint8Array([1, 2]), retain: true } }, 5);
  assert.equal(o['clean'], false);
  assert.equal(o['username'], 'agent-1');
  assert.deepEqual(o['properties'], { sessionExpiryInterval: 3600 });
  assert.deepEqual((o['will'] as { payload: Buffer }).payload, Buffer.from([1, 2]));
  assert.equal(mqttClientOptions(base, 4)['properties'], undefined);
});

test('a missing TLS file is a config error naming the file', () => {
  assert.throws(() => mqttClientOptions({ ...base, caFile: '/nonexistent/ca.crt' }, 4), /\/nonexistent\/ca.crt: cannot read the CA certificate/);
});

test('version fallback order and bounded backoff', () => {
  assert.deepEqual(versionsToTry('auto'), [5, 4]);
  assert.deepEqual(versionsToTry('3.1.1'), [4]);
  assert.equal(backoffDelay(0, 500, 30000, () => 1), 500);
  assert.equal(backoffDelay(3, 500, 30000, () => 1), 4000);
  assert.equal(backoffDelay(30, 500, 30000, () => 1), 30000);
  assert.equal(backoffDelay(5, 500, 30000, () => 0), 500);
});
