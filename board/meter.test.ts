import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { isTinyProtoError } from '../common/errors.ts';
import { memoryLogger } from '../common/logger.ts';
import { createEnergyMeter, temperature } from './meter.ts';
import type { CommandRunner } from './pmic.ts';
import type { EnergyUsage } from './profiles.ts';
import { errno, fixture, manualTime, overlayFs } from '../test/helpers/sysfs.ts';

const usage: EnergyUsage = { wallSeconds: 10, cpuUserSeconds: 3, cpuSystemSeconds: 1, bytesSent: 100_000, bytesReceived: 100_000 };
const PMIC_OUT = readFileSync(join(fixture('rpi5'), 'vcgencmd-pmic_read_adc.txt'), 'utf8');
const pmicRunner: CommandRunner = async () => PMIC_OUT;
const noVcgencmd: CommandRunner = async () => {
  throw new Error('spawn vcgencmd ENOENT');
};

describe('createEnergyMeter: source priority', () => {
  test('RAPL first when readable (x86)', async () => {
    const m = await createEnergyMeter({ root: fixture('rapl-two-packages'), board: 'auto', arch: 'x64', runCommand: noVcgencmd });
    assert.equal(m.source, 'rapl');
    assert.equal(m.board, 'x86-generic');
    assert.deepEqual(m.skipped, []);
  });

  test('RAPL unreadable -> next source, reason recorded', async () => {
    const root = fixture('rapl-two-packages');
    const E0 = '/sys/class/powercap/intel-rapl:0/energy_uj';
    const fs = overlayFs(root, { [E0]: errno('EACCES', E0) });
    const m = await createEnergyMeter({ root, fs, board: 'x86-generic' });
    assert.equal(m.source, 'estimate');
    assert.match(m.skipped[0] ?? '', /^rapl: RAPL unavailable: permission denied/);
    assert.equal(m.detail, 'estimate: x86-generic (idle 15 W, 5 W/core, 5 µJ/B)');
  });

  test('Jetson Nano (iio) -> ina3221 and board jetson-nano', async () => {
    const m = await createEnergyMeter({ root: fixture('jetson-nano-iio'), board: 'auto', arch: 'arm64' });
    assert.equal(m.source, 'ina3221');
    assert.equal(m.board, 'jetson-nano');
  });

  test('Jetson Orin (hwmon ina3221) -> ina3221, not generic hwmon', async () => {
    const m = await createEnergyMeter({ root: fixture('jetson-orin-hwmon'), board: 'auto', arch: 'arm64' });
    assert.equal(m.source, 'ina3221');
    assert.equal(m.board, 'jetson-orin-nano');
  });

  test('Pi 5 -> pmic via the injected runner', async () => {
    const m = await createEnergyMeter({ root: fixture('rpi5'), board: 'auto', arch: 'arm64', runCommand: pmicRunner });
    assert.equal(m.source, 'pmic');
    assert.equal(m.board, 'rpi5');
  });

  test('PMIC only tried on rpi5; Pi 4 without sensors -> estimate', async () => {
    let called = 0;
    const m = await createEnergyMeter({
      root: fixture('rpi4b'),
      board: 'auto',
      arch: 'arm64',
      runCommand: async () => {
        called++;
        return PMIC_OUT;
      },
    });
    assert.equal(called, 0);
    assert.equal(m.source, 'estimate');
    assert.equal(m.board, 'rpi4b');
  });

  test('hwmon energy counters, then hwmon power', async () => {
    assert.equal((await createEnergyMeter({ root: fixture('hwmon-energy'), board: 'x86-generic' })).source, 'hwmon');
    const p = await createEnergyMeter({ root: fixture('hwmon-power'), board: 'x86-generic' });
    assert.equal(p.source, 'hwmon');
    assert.match(p.detail, /^hwmon power:/);
  });

  test('exclude option skips sources', async () => {
    const m = await createEnergyMeter({ root: fixture('rapl-two-packages'), board: 'x86-generic', exclude: ['rapl'] });
    assert.equal(m.source, 'estimate');
    assert.equal(m.skipped[0], 'rapl: excluded by option');
  });

  test('unknown board name -> E_CONFIG', async () => {
    await assert.rejects(createEnergyMeter({ root: fixture('empty'), board: 'pi9' }), (e) => isTinyProtoError(e, 'E_CONFIG'));
  });
});

describe('createEnergyMeter: measuring', () => {
  test('RAPL reading ignores usage', async () => {
    const root = fixture('rapl-two-packages');
    const fs = overlayFs(root);
    const m = await createEnergyMeter({ root, fs, board: 'x86-generic', raplPollMs: 0 });
    m.start();
    fs.set('/sys/class/powercap/intel-rapl:0/energy_uj', '1001000000');
    fs.set('/sys/class/powercap/intel-rapl:1/energy_uj', '2002000000');
    const r = await m.stop(usage);
    assert.deepEqual(r, { joules: 3, source: 'rapl', detail: 'rapl: package-0 (intel-rapl:0) + package-1 (intel-rapl:1)' });
  });

  test('sensor failing mid-interval -> estimate, and detail says so', async () => {
    const root = fixture('rapl-two-packages');
    const fs = overlayFs(root);
    const log = memoryLogger();
    const m = await createEnergyMeter({ root, fs, board: 'x86-generic', raplPollMs: 0, logger: log });
    m.start();
    fs.set('/sys/class/powercap/intel-rapl:1/energy_uj', errno('EIO', 'energy_uj'));
    const r = await m.stop(usage);
    assert.equal(r.source, 'estimate');
    assert.equal(r.joules, 15 * 10 + 5 * 4 + 5e-6 * 200_000);
    assert.match(r.detail, /^estimate: x86-generic \(idle 15 W, 5 W\/core, 5 µJ\/B\) — fallback: rapl sensor failed mid-interval: .*EIO/);
    assert.ok(log.entries.some((e) => e.level === 'warn' && /mid-interval/.test(e.msg)));
  });

  test('Jetson sampling with an injected clock: trapezoid over the interval', async () => {
    const root = fixture('jetson-orin-hwmon');
    const fs = overlayFs(root);
    const t = manualTime(0);
    const m = await createEnergyMeter({ root, fs, board: 'auto', arch: 'arm64', clock: t.clock, ticker: t.ticker, samplePeriodMs: 100 });
    m.start(); // VDD_IN 5 V x 1 A = 5 W
    t.advance(100); // 5 W
    fs.set('/sys/class/hwmon/hwmon1/curr1_input', '2000'); // 10 W
    t.advance(100); // 10 W
    const r = await m.stop(usage); // t=200: 10 W (the tick at 200 and the stop sample coincide)
    assert.equal(r.source, 'ina3221');
    assert.equal(r.joules, 0.5 * 0.1 * (5 + 5) + 0.5 * 0.1 * (5 + 10));
    assert.match(r.detail, /^ina3221: input rail VDD_IN .*; 4 samples @ 100 ms, mean 6\.250 W$/);
  });

  test('Pi 5 PMIC sampled through the async runner', async () => {
    const t = manualTime(0);
    const m = await createEnergyMeter({ root: fixture('rpi5'), board: 'rpi5', runCommand: pmicRunner, clock: t.clock, ticker: t.ticker });
    m.start();
    await new Promise((r) => setImmediate(r));
    t.advance(100);
    await new Promise((r) => setImmediate(r));
    t.advance(100);
    const r = await m.stop(usage);
    assert.equal(r.source, 'pmic');
    const watts = (await import('./pmic.ts')).parsePmicAdc(PMIC_OUT).totalWatts;
    assert.ok(Math.abs(r.joules - watts * 0.2) < 1e-12);
  });

  test('estimate meter and meters are reusable round after round', async () => {
    const m = await createEnergyMeter({ root: fixture('empty'), board: 'rpi4b' });
    assert.equal(m.source, 'estimate');
    await assert.rejects(m.stop(usage), (e) => isTinyProtoError(e, 'E_CONFIG'));
    for (let i = 0; i < 2; i++) {
      m.start();
      const r = await m.stop(usage);
      assert.equal(r.joules, 2.7 * 10 + 0.95 * 4 + 5e-6 * 200_000);
      assert.equal(r.detail, 'estimate: rpi4b (idle 2.7 W, 0.95 W/core, 5 µJ/B)');
    }
  });

  test('temperature is re-exported', () => assert.equal(temperature({ root: fixture('rpi5') }), 52.35));
});
