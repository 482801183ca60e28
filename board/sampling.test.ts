import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { SampledPowerMeter, trapezoidJoules } from './sampling.ts';
import { manualTime } from '../test/helpers/sysfs.ts';

describe('trapezoidJoules', () => {
  test('integrates a ramp exactly', () => {
    // 0 W -> 10 W linearly over 2 s = 10 J
    assert.equal(trapezoidJoules([{ tMs: 0, watts: 0 }, { tMs: 1000, watts: 5 }, { tMs: 2000, watts: 10 }]), 10);
  });
  test('order-independent; fewer than two samples -> 0', () => {
    assert.equal(trapezoidJoules([{ tMs: 2000, watts: 4 }, { tMs: 0, watts: 4 }]), 8);
    assert.equal(trapezoidJoules([{ tMs: 0, watts: 4 }]), 0);
    assert.equal(trapezoidJoules([]), 0);
  });
});

describe('SampledPowerMeter', () => {
  test('samples at start, every period and at stop, with an injected clock', async () => {
    const t = manualTime(0);
    let watts = 2;
    const m = new SampledPowerMeter(() => watts, { periodMs: 100, clock: t.clock, ticker: t.ticker });
    m.start(); // t=0: 2 W
    t.advance(100); // t=100: 2 W
    watts = 4;
    t.advance(100); // t=200: 4 W
    t.advance(50); // no tick
    const r = await m.stop(); // t=250: 4 W
    assert.equal(t.active, 0);
    // 0-100: 2 W*0.1 = 0.2; 100-200: 3 W*0.1 = 0.3; 200-250: 4 W*0.05 = 0.2
    assert.ok(Math.abs(r.joules - 0.7) < 1e-12);
    assert.equal(r.samples, 4);
    assert.equal(r.seconds, 0.25);
    assert.equal(r.failures, 0);
  });

  test('async reader: overlapping ticks are skipped, not stacked', async () => {
    const t = manualTime(0);
    const pending: ((w: number) => void)[] = [];
    const m = new SampledPowerMeter(() => new Promise<number>((res) => pending.push(res)), {
      periodMs: 100,
      clock: t.clock,
      ticker: t.ticker,
    });
    m.start();
    t.advance(100); // start read still pending -> skipped
    assert.equal(pending.length, 1);
    pending.shift()!(3);
    await Promise.resolve();
    await Promise.resolve();
    t.advance(100); // t=200 read
    pending.shift()!(3);
    const stopping = m.stop();
    await new Promise((r) => setImmediate(r));
    pending.shift()!(3); // stop read at t=200
    const r = await stopping;
    assert.equal(r.skipped, 1);
    assert.ok(Math.abs(r.joules - 0.6) < 1e-12);
  });

  test('mid-interval failure is bridged; failure at stop -> E_SENSOR', async () => {
    const t = manualTime(0);
    let fail = false;
    const m = new SampledPowerMeter(
      () => {
        if (fail) throw new Error('EIO');
        return 1;
      },
      { periodMs: 100, clock: t.clock, ticker: t.ticker },
    );
    m.start();
    fail = true;
    t.advance(100);
    fail = false;
    t.advance(100);
    const r = await m.stop();
    assert.equal(r.failures, 1);
    assert.equal(r.joules, 0.2);

    m.start();
    t.advance(100);
    fail = true;
    await assert.rejects(m.stop(), (e) => isTinyProtoError(e, 'E_SENSOR') && /end of the interval/.test(e.message));
  });

  test('rejects a bad period and stop before start', async () => {
    assert.throws(() => new SampledPowerMeter(() => 1, { periodMs: 0 }), (e) => isTinyProtoError(e, 'E_CONFIG'));
    await assert.rejects(new SampledPowerMeter(() => 1).stop(), (e) => isTinyProtoError(e, 'E_CONFIG'));
  });

  test('default ticker is unref\'d and short real intervals work (few ms)', async () => {
    const m = new SampledPowerMeter(() => 1, { periodMs: 2 });
    m.start();
    await new Promise((r) => setTimeout(r, 6));
    const r = await m.stop();
    assert.ok(r.samples >= 2);
    assert.ok(Math.abs(r.joules - r.seconds) < 1e-9);
  });
});
