import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listJetsonRails, probeJetson } from './jetson.ts';
import { fixture, overlayFs } from '../test/helpers/sysfs.ts';

describe('jetson INA3221', () => {
  test('old L4T ina3221x IIO layout: rails in mW, input rail POM_5V_IN used alone', () => {
    const root = fixture('jetson-nano-iio');
    const rails = listJetsonRails({ root });
    assert.deepEqual(rails.map((r) => [r.name, r.kind, r.read()]), [
      ['POM_5V_IN', 'iio-mW', 2.48],
      ['POM_5V_GPU', 'iio-mW', 0.24],
      ['POM_5V_CPU', 'iio-mW', 0.65],
    ]);
    const p = probeJetson({ root });
    assert.ok(p.available);
    assert.equal(p.read(), 2.48);
    assert.equal(p.detail, 'ina3221: input rail POM_5V_IN (rails: POM_5V_IN, POM_5V_GPU, POM_5V_CPU)');
  });

  test('no input rail -> sum of rails, detail names them', () => {
    const p = probeJetson({ root: fixture('jetson-iio-noinput') });
    assert.ok(p.available);
    assert.equal(p.read(), 1.75);
    assert.equal(p.detail, 'ina3221: sum of rails VDD_SYS_GPU + VDD_SYS_SOC + VDD_4V0_WIFI');
  });

  test('new L4T hwmon ina3221: V x I per channel, VDD_IN preferred', () => {
    const root = fixture('jetson-orin-hwmon');
    const rails = listJetsonRails({ root });
    assert.deepEqual(rails.map((r) => [r.name, r.kind, r.read()]), [
      ['VDD_IN', 'hwmon-VxI', 5],
      ['VDD_CPU_GPU_CV', 'hwmon-VxI', 1],
      ['VDD_SOC', 'hwmon-VxI', 1.5],
    ]);
    const p = probeJetson({ root });
    assert.ok(p.available);
    assert.equal(p.read(), 5);
    assert.match(p.detail, /input rail VDD_IN/);
  });

  test('hwmon power{N}_input (µW) preferred over V x I; NC channels skipped', () => {
    const p = probeJetson({ root: fixture('jetson-hwmon-power') });
    assert.ok(p.available);
    assert.deepEqual(p.rails.map((r) => [r.name, r.kind]), [
      ['VDD_GPU_SOC', 'hwmon-uW'],
      ['VDD_CPU_CV', 'hwmon-uW'],
    ]);
    assert.equal(p.read(), 2.25);
  });

  test('disabled channel skipped; live values are re-read on each sample', () => {
    const root = fixture('jetson-orin-hwmon');
    const fs = overlayFs(root, { '/sys/class/hwmon/hwmon1/in2_enable': '0' });
    const p = probeJetson({ root, fs });
    assert.ok(p.available);
    assert.deepEqual(p.rails.map((r) => r.name), ['VDD_IN', 'VDD_SOC']);
    fs.set('/sys/class/hwmon/hwmon1/curr1_input', '1500');
    assert.equal(p.read(), 7.5);
  });

  test('nothing there -> unavailable', () => {
    const p = probeJetson({ root: fixture('hwmon-power') });
    assert.equal(p.available, false);
  });
});
