/**
 * The fixture test/fixtures/sysfs/rpi5/vcgencmd-pmic_read_adc.txt is modelled on the documented /
 * published format of `vcgencmd pmic_read_adc` on a Raspberry Pi 5; it was not captured here.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTinyProtoError } from '../common/errors.ts';
import { parsePmicAdc, parsePmicChannels, probePmic, type CommandRunner } from './pmic.ts';
import { fixture } from '../test/helpers/sysfs.ts';

const OUTPUT = readFileSync(join(fixture('rpi5'), 'vcgencmd-pmic_read_adc.txt'), 'utf8');

describe('pmic_read_adc parsing', () => {
  test('parses current and volt lines with channel numbers', () => {
    const ch = parsePmicChannels('   VDD_CORE_A current(7)=2.06178000A\n   VDD_CORE_V volt(15)=0.88000000V\n');
    assert.deepEqual(ch, [
      { rail: 'VDD_CORE', kind: 'current', channel: 7, value: 2.06178 },
      { rail: 'VDD_CORE', kind: 'volt', channel: 15, value: 0.88 },
    ]);
  });

  test('pairs rails by name; EXT5V/BATT are voltage-only and not counted', () => {
    const r = parsePmicAdc(OUTPUT);
    assert.equal(r.rails.length, 12);
    const core = r.rails.find((x) => x.name === 'VDD_CORE');
    assert.ok(core);
    assert.equal(core.watts, 0.88 * 2.06178);
    assert.deepEqual(r.voltsOnly, { EXT5V: 5.13172, BATT: 0 });
    const expected = r.rails.reduce((s, x) => s + x.volts * x.amps, 0);
    assert.equal(r.totalWatts, expected);
    assert.ok(Math.abs(r.totalWatts - 2.93886) < 1e-5, `total ${r.totalWatts}`);
  });

  test('garbage -> E_SENSOR', () => {
    assert.throws(() => parsePmicAdc('error=2 error_msg="Command not registered"\n'), (e) => isTinyProtoError(e, 'E_SENSOR'));
  });

  test('probe uses the injected runner with vcgencmd pmic_read_adc', async () => {
    const calls: string[] = [];
    const run: CommandRunner = async (cmd, args) => {
      calls.push([cmd, ...args].join(' '));
      return OUTPUT;
    };
    const p = await probePmic(run);
    assert.ok(p.available);
    assert.deepEqual(calls, ['vcgencmd pmic_read_adc']);
    assert.equal(await p.read(), parsePmicAdc(OUTPUT).totalWatts);
    assert.match(p.detail, /^pmic: vcgencmd pmic_read_adc, sum of 12 rails/);
  });

  test('runner failure (no vcgencmd) -> unavailable with reason', async () => {
    const p = await probePmic(async () => {
      throw Object.assign(new Error('spawn vcgencmd ENOENT'), { code: 'ENOENT' });
    });
    assert.equal(p.available, false);
    assert.match(!p.available ? p.reason : '', /ENOENT/);
  });
});
