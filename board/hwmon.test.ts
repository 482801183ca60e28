import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { HwmonEnergyMeter, listHwmonSensors, probeHwmon } from './hwmon.ts';
import { fixture, overlayFs } from '../test/helpers/sysfs.ts';

describe('hwmon', () => {
  test('power: one device, power*_input preferred over power*_average, µW -> W', () => {
    const root = fixture('hwmon-power');
    const s = listHwmonSensors({ root });
    assert.deepEqual(s.power.map((c) => `${c.device}/${c.attr}`), ['hwmon1/power1_input', 'hwmon2/power1_average']);
    const p = probeHwmon({ root });
    assert.ok(p.available && p.kind === 'power');
    assert.equal(p.read(), 12.5);
    assert.equal(p.detail, 'hwmon power: power_meter (hwmon1) power1_input "Platform"');
  });

  test('power: choose a device by name', () => {
    const p = probeHwmon({ root: fixture('hwmon-power'), device: 'amdgpu' });
    assert.ok(p.available && p.kind === 'power');
    assert.equal(p.read(), 9);
  });

  test('energy counters preferred over power; socket channels only when labelled', () => {
    const root = fixture('hwmon-energy');
    const p = probeHwmon({ root });
    assert.ok(p.available && p.kind === 'energy');
    assert.deepEqual(p.channels.map((c) => c.label), ['Esocket0']);
  });

  test('energy meter: delta µJ -> J; counter going backwards -> E_SENSOR', () => {
    const root = fixture('hwmon-energy');
    const fs = overlayFs(root);
    const p = probeHwmon({ root, fs });
    assert.ok(p.available && p.kind === 'energy');
    const m = new HwmonEnergyMeter(p.channels, { root, fs });
    m.start();
    fs.set('/sys/class/hwmon/hwmon1/energy3_input', '53250000');
    assert.equal(m.stop().joules, 3.25);
    m.start();
    fs.set('/sys/class/hwmon/hwmon1/energy3_input', '10');
    assert.throws(() => m.stop(), (e) => isTinyProtoError(e, 'E_SENSOR') && /went backwards/.test(e.message));
  });

  test('ina3221 devices are left to the Jetson reader; nothing -> unavailable', () => {
    assert.equal(probeHwmon({ root: fixture('jetson-orin-hwmon') }).available, false);
    assert.equal(probeHwmon({ root: fixture('empty') }).available, false);
  });
});
