import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareWorth, computedSeconds, matchUploads, reachableTarget, spread, stallOdds, uploadWorth, type UploadOnLink } from './wifi-analysis.ts';

const near = (a: number | null, b: number, eps = 1e-9): void => assert.ok(a !== null && Math.abs(a - b) < eps, `${a} != ${b}`);

test('computed upload time: latency + bytes at the rate; rate 0 = latency only', () => {
  // 6,000 B at 4 Mbit/s = 12 ms, + 20 ms one way
  near(computedSeconds(6000, { latencyMs: 20, jitterMs: 15, rateKbit: 4000 }), 0.032);
  near(computedSeconds(600, { latencyMs: 20, jitterMs: 0, rateKbit: 4000 }), 0.0212);
  near(computedSeconds(1e6, { latencyMs: 5, jitterMs: 0, rateKbit: 0 }), 0.005);
  assert.throws(() => computedSeconds(-1, { latencyMs: 0, jitterMs: 0, rateKbit: 1 }), /bytes must be >= 0/);
});

test('each upload is matched to the last large-enough up transfer that ended before the aggregator had it', () => {
  const transfers = new Map([
    ['a', [
      { startMs: 0, endMs: 30, bytes: 80 }, // hello: too small
      { startMs: 100, endMs: 160, bytes: 900 }, // round 1 upload
      { startMs: 170, endMs: 175, bytes: 4 }, // PUBACK of GLOBAL
      { startMs: 300, endMs: 345, bytes: 950 }, // round 2 upload
      { startMs: 400, endMs: 420, bytes: 2000 }, // telemetry, after the upload was in
    ]],
  ]);
  const got = matchUploads(transfers, [
    { round: 1, agent: 'a', bytes: 850, atMs: 165 },
    { round: 2, agent: 'a', bytes: 870, atMs: 350 },
    { round: 2, agent: 'b', bytes: 870, atMs: 350 }, // no emulator: left out
  ]);
  assert.deepEqual(got.map((u) => [u.round, u.linkBytes]), [[1, 900], [2, 950]]);
  near(got[0]!.linkSeconds, 0.06);
  near(got[1]!.linkSeconds, 0.045);
});

test('what the smaller upload is worth: medians of the measured and computed times, per round and of round times', () => {
  const up = (round: number, agent: string, linkBytes: number, linkSeconds: number): UploadOnLink => ({ round, agent, messageBytes: linkBytes - 100, linkBytes, linkSeconds });
  const fed = uploadWorth({
    method: 'fedproto',
    uploads: [up(1, 'a', 6000, 0.05), up(1, 'b', 6200, 0.30), up(2, 'a', 6100, 0.04), up(2, 'b', 6000, 0.06)],
    computed: [0.032, 0.0324, 0.0322, 0.032],
    roundSeconds: [10, 12],
  });
  const tiny = uploadWorth({
    method: 'tinyproto',
    uploads: [up(1, 'a', 600, 0.03), up(1, 'b', 620, 0.03), up(2, 'a', 610, 0.02), up(2, 'b', 600, 0.04)],
    computed: [0.0212, 0.0212, 0.0212, 0.0212],
    roundSeconds: [10.5, 10.9],
  });
  assert.equal(fed.measuredSeconds!.n, 4);
  near(fed.measuredSeconds!.p50, 0.055);
  near(fed.slowestPerRound!.p50, 0.18); // rounds' slowest: 0.30 and 0.06
  near(tiny.slowestPerRound!.p50, 0.035);
  const c = compareWorth(fed, tiny);
  near(c.bytesRatio, 6050 / 605);
  near(c.measuredSavingSeconds, 0.055 - 0.03);
  near(c.computedSavingSeconds, 0.0321 - 0.0212);
  near(c.slowestSavingSeconds, 0.18 - 0.035);
  near(c.roundDifferenceSeconds, 11 - 10.7);
  near(c.savingShareOfRound, (0.18 - 0.035) / 10.7);
  const none = compareWorth(uploadWorth({ method: 'x', uploads: [], computed: [], roundSeconds: [] }), tiny);
  assert.deepEqual([none.bytesRatio, none.measuredSavingSeconds, none.roundDifferenceSeconds], [null, null, null]);
});

test('spread and the reachable target', () => {
  assert.equal(spread([]), null);
  assert.deepEqual(spread([3, 1, 2]), { n: 3, mean: 2, p50: 2, p95: 2.9 });
  assert.equal(reachableTarget([0.734, 0.61]), 0.54); // 90% of 61% = 54.9% -> 54%
  assert.equal(reachableTarget([0.5, 0.5], 1), 0.5);
  assert.equal(reachableTarget([0.7, null]), null);
  assert.equal(reachableTarget([]), null);
});

test('stall odds: segments of 1448 B, each lost with p, costing the stall time', () => {
  const fed = stallOdds(17_224, 0.005, 250, 12); // 12 segments
  assert.equal(fed.segments, 12);
  near(fed.anyStall, 1 - 0.995 ** 12);
  near(fed.meanSeconds, 0.015);
  near(fed.anyInRound, 1 - 0.995 ** 144);
  const tiny = stallOdds(1_925, 0.005, 250, 12);
  assert.equal(tiny.segments, 2);
  near(tiny.meanSeconds, 0.0025);
  assert.equal(stallOdds(0, 0.01, 100, 1).segments, 1);
  assert.equal(stallOdds(1000, 0, 250, 12).anyInRound, 0);
});
