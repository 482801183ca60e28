import { test } from 'node:test';
import assert from 'node:assert/strict';
import { takeRelayFlags } from './relay.ts';

test('relay: its own flags are split from the server flags it passes on', () => {
  const { rest, flags } = takeRelayFlags(['--id', 'site-a', '--upstream=mqtt://hq:1883', '--agents', 'a1,a2', '--margin-ms', '500', '--store', 'r.db']);
  assert.deepEqual(flags, { id: 'site-a', upstream: 'mqtt://hq:1883', 'margin-ms': '500' });
  assert.deepEqual(rest, ['--agents', 'a1,a2', '--store', 'r.db']);
  assert.throws(() => takeRelayFlags(['--id']), { code: 'E_CONFIG', message: '--id needs a value' });
});
