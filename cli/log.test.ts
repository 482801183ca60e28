import { test } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLogger, makeLogger, takeLogFlags } from './log.ts';
import { versionInfo, versionLine } from './version.ts';

test('log flags: taken from anywhere in argv, flag over environment, bad values are E_CONFIG', () => {
  const r = takeLogFlags(['agent', '--log-level', 'debug', '--id', 'a', '--log-format=json'], { TINYPROTO_LOG: 'error' });
  assert.deepEqual(r.settings, { level: 'debug', format: 'json' });
  assert.deepEqual(r.rest, ['agent', '--id', 'a']);
  assert.deepEqual(takeLogFlags(['server'], { TINYPROTO_LOG: 'info', TINYPROTO_LOG_FORMAT: 'json' }).settings, { level: 'info', format: 'json' });
  assert.deepEqual(takeLogFlags([], {}).settings, { level: 'warn', format: 'text' });
  assert.throws(() => takeLogFlags(['--log-level', 'loud'], {}), { code: 'E_CONFIG' });
  assert.throws(() => takeLogFlags(['--log-format'], {}), { code: 'E_CONFIG' });
  assert.throws(() => takeLogFlags([], { TINYPROTO_LOG_FORMAT: 'xml' }), { code: 'E_CONFIG' });
});

test('json logger: one parseable object per line, level filtered, reserved field names kept apart', () => {
  const lines: string[] = [];
  const log = jsonLogger('info', 'agent', (s) => lines.push(s), () => new Date('2026-12-01T00:00:00Z'));
  log.debug('hidden');
  log.warn('cannot connect', { code: 'E_MQTT_AUTH', level: 3, n: 10n, err: new Error('x') });
  assert.equal(lines.length, 1);
  assert.ok(lines[0]!.endsWith('\n') && !lines[0]!.slice(0, -1).includes('\n'));
  assert.deepEqual(JSON.parse(lines[0]!), { time: '2026-12-01T00:00:00.000Z', level: 'warn', msg: 'cannot connect', component: 'agent', code: 'E_MQTT_AUTH', field_level: 3, n: '10', err: { message: 'x' } });
});

test('text logger: the same entries as one readable line', () => {
  const lines: string[] = [];
  makeLogger({ level: 'debug', format: 'text' }, 'srv', (s) => lines.push(s)).info('round closed', { round: 2 });
  assert.match(lines[0]!, /^\d\d:\d\d:\d\d\.\d{3} srv info  round closed \{"round":2\}\n$/);
});

test('version: the package version, and whether it runs compiled', () => {
  const v = versionInfo();
  assert.match(v.version, /^\d+\.\d+\.\d+/);
  assert.equal(v.build, 'sources (tsx)');
  assert.match(versionLine(v), /^tinyproto \d+\.\d+\.\d+ \(sources \(tsx\); node v\d+/);
});
