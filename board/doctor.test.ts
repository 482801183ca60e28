import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boardChecks } from './doctor.ts';
import { fixture } from '../test/helpers/sysfs.ts';

test('board doctor: a Raspberry Pi 5 tree is detected and its thermal zone read', async () => {
  const r = await boardChecks({ board: 'auto', root: fixture('rpi5'), arch: 'arm64', runCommand: async () => { throw new Error('no vcgencmd here'); } }, 20);
  assert.deepEqual(r.map((x) => x.name), ['board', 'energy', 'sensors']);
  assert.match(r[0]!.detail, /^rpi5: device-tree model/);
  assert.match(r[2]!.detail, /52\.4 °C/);
});
test('board doctor: RAPL counters are measured (ok), an empty tree is estimated (warn)', async () => {
  const rapl = await boardChecks({ board: 'auto', root: fixture('rapl-two-packages'), arch: 'x64' }, 20);
  assert.equal(rapl[1]!.status, 'ok');
  assert.match(rapl[1]!.detail, /^rapl/);
  const none = await boardChecks({ board: 'auto', root: fixture('empty'), arch: 'x64' }, 20);
  assert.equal(none[1]!.status, 'warn');
  assert.equal(none[2]!.status, 'warn');
});
