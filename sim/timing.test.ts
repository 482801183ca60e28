import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkTiming, SimulatedRounds, timingSummary, type SimClientTiming, type SimTiming } from './timing.ts';
import type { RoundRecord } from './records.ts';

const client = (o: Partial<SimClientTiming> = {}): SimClientTiming => ({ group: 'g', offline: [], crashUpload: [], linkName: null, link: null, board: 'rpi4b', boardImagesPerSec: 100, ...o });
const timing = (clients: SimClientTiming[], o: Partial<SimTiming> = {}): SimTiming => ({ clients, deadlineMs: 60_000, minUploads: 1, closeAt: null, maxExtensions: 2, offlineGraceMs: 30_000, restartMs: 3_000, ...o });
const trained = (clients: number[], images = 100) => clients.map((c) => ({ client: c, trainImages: images, uploadBytes: 0, familyCost: 1 }));

test('an offline stretch is waited for once: from its first round, for the grace; later rounds do not wait', () => {
  const t = timing([client(), client(), client({ offline: [[2, 3]] })]);
  const rounds = new SimulatedRounds(t, 1);
  // 100 images at 100 images/s: every online client arrives after 1 s
  const r1 = rounds.play(1, [0, 1, 2], trained([0, 1, 2]), 0);
  assert.deepEqual([r1.openedAt, r1.seconds, r1.outcome], [0, 1, 'complete']);
  assert.deepEqual(rounds.offlineIn(2), [2]);
  const r2 = rounds.play(2, [0, 1, 2], trained([0, 1]), 0);
  assert.deepEqual([r2.openedAt, r2.seconds, r2.outcome, r2.offline], [1, 30, 'agents-offline', [2]]);
  const r3 = rounds.play(3, [0, 1, 2], trained([0, 1]), 0);
  assert.deepEqual([r3.openedAt, r3.seconds, r3.outcome], [31, 1, 'agents-offline']);
  // back in round 4: its process starts as the round opens (3 s); the aggregator still has it
  // offline, so the others' uploads at 1 s close the round and its upload (3 + 1 s) is late
  const r4 = rounds.play(4, [0, 1, 2], trained([0, 1, 2]), 0);
  assert.deepEqual([r4.openedAt, r4.seconds, r4.outcome, r4.offline, r4.late], [32, 1, 'agents-offline', [], [2]]);
  assert.equal(r4.clients.find((c) => c.client === 2)!.start, 3);
});

test('an agent offline from round 1 was never heard from: rounds wait for it (deadline); when it joins, it is waited for', () => {
  const t = timing([client(), client({ offline: [[1, 1]] })], { deadlineMs: 5_000 });
  const rounds = new SimulatedRounds(t, 1);
  const r1 = rounds.play(1, [0, 1], trained([0]), 0);
  assert.deepEqual([r1.seconds, r1.outcome, r1.uploaded], [5, 'deadline', [0]]);
  const r2 = rounds.play(2, [0, 1], trained([0, 1]), 0);
  assert.deepEqual([r2.seconds, r2.outcome, r2.late], [4, 'complete', []], 'started at 3 s, trained 1 s');
});

test('a short offline stretch (within the grace) is waited for on rejoining', () => {
  const t = timing([client(), client({ offline: [[2, 2]] })], { offlineGraceMs: 60_000, deadlineMs: 10_000 });
  const rounds = new SimulatedRounds(t, 1);
  rounds.play(1, [0, 1], trained([0, 1]), 0);
  const r2 = rounds.play(2, [0, 1], trained([0]), 0);
  assert.deepEqual([r2.seconds, r2.outcome], [10, 'deadline'], 'still within its grace at the deadline');
  const r3 = rounds.play(3, [0, 1], trained([0, 1]), 0);
  // offline since round 2's opening (1 s): it would be gone at 61 s, but it is back 3 s after round 3 opened (11 s)
  assert.deepEqual([r3.openedAt, r3.seconds, r3.outcome, r3.late], [11, 4, 'complete', []]);
});

test('a straggler still busy when the next round opens starts it late; the clock resumes from the records', () => {
  const t = timing([client(), client({ boardImagesPerSec: 10 })], { deadlineMs: 2_000 });
  const rounds = new SimulatedRounds(t, 1);
  const r1 = rounds.play(1, [0, 1], trained([0, 1]), 0);
  // client 1: 100 images at 10 images/s = 10 s; the deadline closes the round at 2 s
  assert.deepEqual([r1.seconds, r1.outcome, r1.uploaded, r1.late], [2, 'deadline', [0], [1]]);
  const record = { round: 1, timing: r1 } as unknown as RoundRecord;
  const resumed = new SimulatedRounds(t, 1, [record]);
  for (const rs of [rounds, resumed]) {
    const r2 = rs.play(2, [0, 1], trained([0, 1]), 0);
    assert.equal(r2.openedAt, 2);
    assert.equal(r2.clients.find((c) => c.client === 1)!.start, 8, 'busy until 10 s, the round opened at 2 s');
    assert.deepEqual(r2.late, [1]);
  }
  const s = timingSummary([record, { round: 2, timing: { ...r1, seconds: 4 } } as unknown as RoundRecord])!;
  assert.deepEqual([s.totalSeconds, s.p50, s.p95, s.lateUploads, s.stragglers], [6, 3, 3.9, 2, [{ client: 1, rounds: 2 }]]);
  assert.equal(timingSummary([{ round: 1 } as RoundRecord]), null);
});

test('the timing is checked as the aggregator checks its rules', () => {
  assert.throws(() => checkTiming(timing([client()]), 2, 1), /timing\.clients/);
  assert.throws(() => checkTiming(timing([client(), client()], { closeAt: 3 }), 2, 1), /invalid closeAt/);
  assert.throws(() => checkTiming(timing([client(), client()], { deadlineMs: 10 }), 2, 1), /invalid deadlineMs/);
  assert.equal(checkTiming(timing([client(), client()], { minUploads: 5 }), 2, 1).minUploads, 2, 'clamped to the round size');
});
