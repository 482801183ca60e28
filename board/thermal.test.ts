import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { listThermalZones, temperature } from './thermal.ts';
import { fixture, overlayFs } from '../test/helpers/sysfs.ts';

describe('temperature', () => {
  test('Raspberry Pi cpu-thermal', () => assert.equal(temperature({ root: fixture('rpi5') }), 52.35));
  test('Jetson Nano CPU-therm preferred over GPU/PLL', () => assert.equal(temperature({ root: fixture('jetson-nano-iio') }), 41.5));
  test('Orin cpu-thermal', () => assert.equal(temperature({ root: fixture('jetson-orin-hwmon') }), 47.531));
  test('x86_pkg_temp preferred over acpitz (zone order irrelevant)', () => {
    assert.equal(temperature({ root: fixture('thermal-x86') }), 45);
    assert.equal(listThermalZones({ root: fixture('thermal-x86') }).length, 3);
  });
  test('no preferred type -> first readable zone; unreadable zones skipped', () => {
    assert.equal(temperature({ root: fixture('thermal-nopref') }), 33.5);
  });
  test('no zones -> null; implausible values ignored', () => {
    assert.equal(temperature({ root: fixture('empty') }), null);
    const root = fixture('rpi5');
    const fs = overlayFs(root, { '/sys/class/thermal/thermal_zone0/temp': '-273000' });
    assert.equal(temperature({ root, fs }), null);
  });
});
