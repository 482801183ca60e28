import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { listRaplZones, packageZones, probeRapl, raplDeltaUj, raplWrapSeconds, RaplMeter } from './rapl.ts';
import { errno, fixture, manualTime, overlayFs } from '../test/helpers/sysfs.ts';

const TWO = fixture('rapl-two-packages');
const E0 = '/sys/class/powercap/intel-rapl:0/energy_uj';
const E1 = '/sys/class/powercap/intel-rapl:1/energy_uj';

describe('rapl zones', () => {
  test('enumerates zones and subzones, ignoring the control dir and mmio duplicates', () => {
    const zones = listRaplZones({ root: TWO });
    assert.deepEqual(
      zones.map((z) => [z.id, z.name, z.parent]),
      [
        ['intel-rapl:0', 'package-0', null],
        ['intel-rapl:0:0', 'core', 'intel-rapl:0'],
        ['intel-rapl:0:1', 'dram', 'intel-rapl:0'],
        ['intel-rapl:1', 'package-1', null],
        ['intel-rapl:1:0', 'core', 'intel-rapl:1'],
        ['intel-rapl:2', 'psys', null],
      ],
    );
    assert.equal(zones[0]!.maxEnergyRangeUj, 262143328850);
  });

  test('counts top-level package zones only (no subzones, no psys)', () => {
    assert.deepEqual(packageZones(listRaplZones({ root: TWO })).map((z) => z.id), ['intel-rapl:0', 'intel-rapl:1']);
  });

  test('no powercap -> unavailable with a reason', () => {
    const p = probeRapl({ root: fixture('empty') });
    assert.equal(p.available, false);
    assert.match(!p.available ? p.reason : '', /no intel-rapl zones/);
  });

  test('missing energy_uj -> unavailable', () => {
    const p = probeRapl({ root: fixture('rapl-noaccess') });
    assert.equal(p.available, false);
    assert.match(!p.available ? p.reason : '', /energy_uj does not exist/);
  });

  test('EACCES on energy_uj -> unavailable, reason names the permission problem and CVE', () => {
    const fs = overlayFs(TWO, { [E0]: errno('EACCES', E0) });
    const p = probeRapl({ root: TWO, fs });
    assert.equal(p.available, false);
    const reason = !p.available ? p.reason : '';
    assert.match(reason, /permission denied/);
    assert.match(reason, /CVE-2020-8694/);
  });
});

describe('rapl wrap arithmetic', () => {
  test('no wrap', () => assert.deepEqual(raplDeltaUj(100, 350, 1000), { deltaUj: 250, wrapped: false }));
  test('one wrap adds max_energy_range_uj', () => assert.deepEqual(raplDeltaUj(900, 150, 1000), { deltaUj: 250, wrapped: true }));
  test('wrap time: Intel range at 100 W is ~44 min', () => {
    assert.ok(Math.abs(raplWrapSeconds(262143328850, 100) - 2621.4333) < 1e-3);
  });
});

describe('RaplMeter', () => {
  test('sums package deltas in joules', () => {
    const fs = overlayFs(TWO);
    const probe = probeRapl({ root: TWO, fs });
    assert.ok(probe.available);
    const m = new RaplMeter(probe.zones, { root: TWO, fs });
    m.start();
    fs.set(E0, '1012500000\n'); // +12.5 J
    fs.set(E1, '2007500000\n'); // +7.5 J
    const r = m.stop();
    assert.equal(r.source, 'rapl');
    assert.equal(r.joules, 20);
    assert.equal(r.detail, 'rapl: package-0 (intel-rapl:0) + package-1 (intel-rapl:1)');
  });

  test('handles a counter wrap and says so', () => {
    const root = fixture('rapl-wrap');
    const fs = overlayFs(root);
    const probe = probeRapl({ root, fs });
    assert.ok(probe.available);
    const m = new RaplMeter(probe.zones, { root, fs });
    m.start(); // 65712000000 of 65712999613
    fs.set('/sys/class/powercap/intel-rapl:0/energy_uj', '1000387'); // wrapped: 999613 + 1000387 = 2000000 µJ
    const r = m.stop();
    assert.equal(r.joules, 2);
    assert.match(r.detail, /1 counter wrap corrected/);
  });

  test('polling checkpoints make two wraps in one interval visible', () => {
    const root = fixture('rapl-wrap');
    const fs = overlayFs(root);
    const probe = probeRapl({ root, fs });
    assert.ok(probe.available);
    const t = manualTime();
    const max = 65712999613;
    const m = new RaplMeter(probe.zones, { root, fs, pollMs: 1000, ticker: t.ticker });
    const P = '/sys/class/powercap/intel-rapl:0/energy_uj';
    m.start(); // at 65712000000
    fs.set(P, '1000000'); // wrap 1 (+999613 + 1000000)
    t.advance(1000);
    fs.set(P, String(max - 1)); // + (max - 1 - 1000000)
    t.advance(1000);
    fs.set(P, '5'); // wrap 2 (+1 + 5)
    const r = m.stop();
    assert.equal(t.active, 0, 'poller cancelled');
    assert.equal(r.joules, (999613 + 1000000 + (max - 1 - 1000000) + 1 + 5) / 1e6);
    assert.match(r.detail, /2 counter wraps corrected/);
  });

  test('counter becoming unreadable -> E_SENSOR at stop', () => {
    const fs = overlayFs(TWO);
    const probe = probeRapl({ root: TWO, fs });
    assert.ok(probe.available);
    const m = new RaplMeter(probe.zones, { root: TWO, fs });
    m.start();
    fs.set(E1, errno('EACCES', E1));
    assert.throws(() => m.stop(), (e) => isTinyProtoError(e, 'E_SENSOR') && /EACCES/.test(e.message));
  });
});
