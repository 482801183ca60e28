import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { BOARD_NAMES, PROFILES, estimateEnergy, estimateDetail, getProfile, type BoardProfile } from './profiles.ts';

const src = (value: number) => ({ value, source: 'test' });
const toy: BoardProfile = {
  name: 'rpi4b',
  label: 'toy',
  idleWatts: src(2),
  activeWattsPerCore: src(0.5),
  cores: src(4),
  radioJoulesPerByte: src(0.25),
};

describe('estimateEnergy', () => {
  test('idle*wall + perCore*(user+sys) + radio*(sent+received), exactly', () => {
    const r = estimateEnergy(toy, { wallSeconds: 10, cpuUserSeconds: 6, cpuSystemSeconds: 2, bytesSent: 8, bytesReceived: 4 });
    assert.deepEqual(r, {
      joules: 2 * 10 + 0.5 * 8 + 0.25 * 12, // 27
      source: 'estimate',
      detail: 'estimate: rpi4b (idle 2 W, 0.5 W/core, 250000 µJ/B)',
    });
    assert.equal(r.joules, 27);
  });

  test('real profile: rpi4b numbers and detail', () => {
    const p = getProfile('rpi4b');
    const r = estimateEnergy(p, { wallSeconds: 4, cpuUserSeconds: 2, cpuSystemSeconds: 0, bytesSent: 1_000_000, bytesReceived: 0 });
    assert.equal(r.joules, 2.7 * 4 + 0.95 * 2 + 5e-6 * 1_000_000);
    assert.equal(r.detail, 'estimate: rpi4b (idle 2.7 W, 0.95 W/core, 5 µJ/B)');
    assert.equal(estimateDetail(getProfile('x86-generic')), 'estimate: x86-generic (idle 15 W, 5 W/core, 5 µJ/B)');
  });

  test('zero usage -> 0 J; negative or non-finite usage -> E_CONFIG', () => {
    assert.equal(estimateEnergy(toy, { wallSeconds: 0, cpuUserSeconds: 0, cpuSystemSeconds: 0, bytesSent: 0, bytesReceived: 0 }).joules, 0);
    assert.throws(
      () => estimateEnergy(toy, { wallSeconds: -1, cpuUserSeconds: 0, cpuSystemSeconds: 0, bytesSent: 0, bytesReceived: 0 }),
      (e) => isTinyProtoError(e, 'E_CONFIG'),
    );
    assert.throws(
      () => estimateEnergy(toy, { wallSeconds: 1, cpuUserSeconds: NaN, cpuSystemSeconds: 0, bytesSent: 0, bytesReceived: 0 }),
      (e) => isTinyProtoError(e, 'E_CONFIG'),
    );
  });

  test('every profile is complete, positive and sourced', () => {
    assert.deepEqual(Object.keys(PROFILES).sort(), [...BOARD_NAMES].sort());
    for (const name of BOARD_NAMES) {
      const p = PROFILES[name];
      assert.equal(p.name, name);
      for (const k of ['idleWatts', 'activeWattsPerCore', 'cores', 'radioJoulesPerByte'] as const) {
        assert.ok(p[k].value > 0, `${name}.${k}`);
        assert.ok(p[k].source.length > 20, `${name}.${k} source`);
      }
    }
  });
});
