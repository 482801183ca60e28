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

test('server: mu auto needs no --total-train-samples; --mu-from and the configured total are taken, checked and shown', async () => {
  const { muLine } = await import('./server.ts');
  const plain = serverArgs(['--agents', '2'], {}).experiment;
  assert.deepEqual([plain.mu, plain.muFrom, plain.totalTrainSamples], ['auto', 'reported', null]);
  const conf = serverArgs(['--agents', '2', '--total-train-samples', '4000', '--mu-from', 'configured'], {}).experiment;
  assert.deepEqual([conf.muFrom, conf.totalTrainSamples], ['configured', 4000]);
  assert.throws(() => serverArgs(['--agents', '2', '--mu-from', 'configured'], {}), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /invalid mu/.test((e as Error).message));
  assert.throws(() => serverArgs(['--agents', '2', '--mu-from', 'guess'], {}), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /muFrom/.test((e as Error).message));
  const r = { round: 3, uploads: 2, selected: 2, bytesIn: 1, globalBytes: 1, classesWithGlobal: 1, seconds: 1, outcome: 'complete', reason: '', mu: 0.0541667, totalTrainSamples: 120, muSource: 'reported' } as const;
  assert.equal(muLine(r), '      round 3 mu 0.0542 (N = 120, reported)');
  assert.equal(muLine({ ...r, totalTrainSamples: 266.6666, muSource: 'estimated' }), '      round 3 mu 0.0542 (N = 266.7, estimated)');
});
