import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverArgs } from './server.ts';
import { BATCH_DEFAULTS } from '../aggregator/batch.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('server: --broker embedded with --embedded-port, group-commit and hold-acks flags', () => {
  const a = serverArgs(['--agents', '3', '--mu', '0.01', '--broker', 'embedded', '--embedded-port', '0', '--commit-batch', '200', '--commit-delay-ms', '3', '--hold-acks', 'off'], {});
  assert.equal(a.embeddedPort, 0);
  assert.deepEqual({ ...a.commit }, { maxBatch: 200, maxDelayMs: 3 });
  assert.equal(a.connection.holdAcks, false);
  assert.notEqual(a.connection.broker, 'embedded');
  const d = serverArgs(['--agents', '3', '--mu', '0.01', '--broker', 'mqtt://127.0.0.1:1999'], {});
  assert.equal(d.embeddedPort, null);
  assert.equal(d.connection.broker, 'mqtt://127.0.0.1:1999');
  assert.deepEqual({ ...d.commit }, { ...BATCH_DEFAULTS });
  assert.equal(d.connection.holdAcks, true);
  assert.equal(serverArgs(['--agents', '1', '--mu', '0.01', '--broker', 'embedded'], {}).embeddedPort, 1883);
});

test('server: bad scale flags are E_CONFIG', () => {
  for (const bad of [['--commit-batch', '0'], ['--commit-delay-ms', '1001'], ['--commit-batch', '1.5'], ['--hold-acks', 'maybe'], ['--broker', 'embedded', '--embedded-port', '70000']]) {
    assert.throws(() => serverArgs(['--agents', '2', '--mu', '0.01', ...bad], {}), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'), bad.join(' '));
  }
});

test('server: --relays names the relays whose partial sums count', () => {
  assert.deepEqual(serverArgs(['--agents', '2', '--mu', '0.01'], {}).relays, []);
  assert.deepEqual(serverArgs(['--agents', '2', '--mu', '0.01', '--relays', 'site-a,site-b'], {}).relays, ['site-a', 'site-b']);
  assert.throws(() => serverArgs(['--agents', '2', '--mu', '0.01', '--relays', 'a/b'], {}), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
});
