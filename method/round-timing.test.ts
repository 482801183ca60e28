import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng } from '../common/rng.ts';
import { clientRoundTimes, closeRound, scheduledFinishMs, transferSeconds, type LinkTiming, type RoundRules } from './round-timing.ts';

const near = (a: number, b: number, msg?: string): void => assert.ok(Math.abs(a - b) < 1e-9, `${msg ?? ''} ${a} != ${b}`);
const quiet = { stallProbability: 0, stallMs: 0, segmentBytes: 1448, schedule: [] };

test('a transfer takes latency + bytes / rate; nothing sent takes no time; rate 0 is unlimited', () => {
  const rng = new Rng(1);
  // 10,000 B = 80,000 bit at 4,000 kbit/s = 20 ms, plus 20 ms latency
  near(transferSeconds(10_000, { latencyMs: 20, jitterMs: 0, rateKbit: 4_000 }, quiet, rng), 0.04);
  near(transferSeconds(10_000, { latencyMs: 20, jitterMs: 0, rateKbit: 0 }, quiet, rng), 0.02);
  assert.equal(transferSeconds(0, { latencyMs: 20, jitterMs: 5, rateKbit: 1 }, quiet, rng), 0);
});

test('jitter is uniform in [0, jitterMs] from the seeded stream; every lost segment stalls the stream', () => {
  const u = new Rng(5).next();
  near(transferSeconds(1_000, { latencyMs: 10, jitterMs: 30, rateKbit: 0 }, quiet, new Rng(5)), (10 + 30 * u) / 1000);
  // 3,000 B = 3 segments of 1,448 B; each lost (p = 1): 3 x 250 ms on top of 8 ms of serialisation
  near(transferSeconds(3_000, { latencyMs: 0, jitterMs: 0, rateKbit: 3_000 }, { stallProbability: 1, stallMs: 250, segmentBytes: 1448 }, new Rng(2)), 0.758);
  const a = transferSeconds(50_000, { latencyMs: 30, jitterMs: 25, rateKbit: 1_500 }, { stallProbability: 0.02, stallMs: 400, segmentBytes: 1448 }, new Rng(9));
  const b = transferSeconds(50_000, { latencyMs: 30, jitterMs: 25, rateKbit: 1_500 }, { stallProbability: 0.02, stallMs: 400, segmentBytes: 1448 }, new Rng(9));
  assert.equal(a, b, 'one seed, one time');
});

const weak: LinkTiming = { up: { latencyMs: 30, jitterMs: 0, rateKbit: 1_500 }, down: { latencyMs: 30, jitterMs: 0, rateKbit: 2_500 }, ...quiet };

test('a client round: download + training at the board speed + upload; a crash adds half an upload and a restart', () => {
  // a Pi Zero 2 W at 0.25 x 115 images/s = 28.75 images/s trains 230 images in 8 s
  const x = { link: weak, imagesPerSec: 28.75, downloadBytes: 5_000, trainImages: 230, uploadBytes: 6_000, crash: false, restartSeconds: 3 };
  const t = clientRoundTimes(x, new Rng(1));
  near(t.download, 0.046, 'download: 30 ms + 40,000 bit / 2,500 kbit/s = 46 ms');
  near(t.train, 8);
  near(t.upload, 0.062, 'upload: 30 ms + 48,000 bit / 1,500 kbit/s = 62 ms');
  assert.equal(t.restart, 0);
  near(t.total, 8.108);
  const c = clientRoundTimes({ ...x, crash: true }, new Rng(1));
  near(c.restart, 0.031 + 3);
  near(c.total, 8.108 + 3.031);
  const direct = clientRoundTimes({ ...x, link: null, imagesPerSec: null }, new Rng(1));
  assert.deepEqual(direct, { download: 0, train: 0, restart: 0, upload: 0, total: 0 });
});

test("a link's outages hold a transfer until they end; a disconnect makes it start over", () => {
  const outage = [{ kind: 'outage' as const, atMs: 1_000, forMs: 4_000, everyMs: 0 }];
  assert.equal(scheduledFinishMs(0, 500, outage), 500, 'done before the outage');
  assert.equal(scheduledFinishMs(800, 500, outage), 5_300, '200 ms before, held 4 s, 300 ms after');
  assert.equal(scheduledFinishMs(2_000, 500, outage), 5_500, 'started inside the outage: waits for its end');
  // every 10 s from 1 s, for 2 s: a 9.5 s transfer from 0 runs 1 s, waits to 3 s, runs 8 s (to 11), waits to 13, runs 0.5 s
  assert.equal(scheduledFinishMs(0, 9_500, [{ kind: 'outage', atMs: 1_000, forMs: 2_000, everyMs: 10_000 }]), 13_500);
  assert.equal(scheduledFinishMs(800, 500, [{ kind: 'disconnect', atMs: 1_000, forMs: 4_000, everyMs: 0 }]), 5_500, 'dropped at 1 s, sent again from 5 s');
  // a client starting at 44.99 s on wifi-weak's first outage (45 s + 4 s) waits for the link
  const sched: LinkTiming = { ...weak, schedule: [{ kind: 'outage', atMs: 45_000, forMs: 4_000, everyMs: 90_000 }] };
  const t = clientRoundTimes({ link: sched, imagesPerSec: null, downloadBytes: 5_000, trainImages: 0, uploadBytes: 6_000, crash: false, restartSeconds: 0, startSeconds: 44.99 }, new Rng(1));
  near(t.download, 0.046 + 4, 'the download waits out the outage');
  near(t.upload, 0.062, 'the upload, after it, does not');
});

const rules = (o: Partial<RoundRules> = {}): RoundRules => ({ deadlineSeconds: 10, minUploads: 1, closeAt: null, maxExtensions: 2, ...o });

test('a round closes when every selected client uploaded, at the last arrival', () => {
  const r = closeRound([{ client: 2, arrives: 3 }, { client: 0, arrives: 1 }, { client: 1, arrives: 2 }], rules());
  assert.deepEqual(r, { seconds: 3, outcome: 'complete', reason: 'all 3 selected agents uploaded', extensions: 0, uploaded: [0, 1, 2], late: [], offline: [] });
});

test('the deadline closes a round with enough uploads; the later ones are late (stale)', () => {
  const r = closeRound([{ client: 0, arrives: 4 }, { client: 1, arrives: 9.5 }, { client: 2, arrives: 10 }, { client: 3, arrives: 30 }], rules({ minUploads: 2 }));
  assert.equal(r.seconds, 10);
  assert.equal(r.outcome, 'deadline');
  assert.deepEqual(r.uploaded, [0, 1, 2], 'an upload at the deadline instant is in time');
  assert.deepEqual(r.late, [3]);
});

test('over-selection closes at the first closeAt arrivals', () => {
  const r = closeRound([{ client: 0, arrives: 5 }, { client: 1, arrives: 1 }, { client: 2, arrives: 2 }, { client: 3, arrives: 3 }], rules({ closeAt: 3 }));
  assert.equal(r.outcome, 'enough');
  assert.equal(r.seconds, 3);
  assert.deepEqual(r.uploaded, [1, 2, 3]);
  assert.deepEqual(r.late, [0]);
});

test('offline clients are not waited for after their grace; too few uploads extend the deadline, bounded', () => {
  const off = closeRound([{ client: 0, arrives: 1 }, { client: 1, goneAt: 4 }], rules());
  assert.deepEqual([off.seconds, off.outcome, off.offline], [4, 'agents-offline', [1]]);
  const already = closeRound([{ client: 0, arrives: 1 }, { client: 1, goneAt: -20 }], rules());
  assert.deepEqual([already.seconds, already.outcome], [1, 'agents-offline']);
  // min-uploads 2: one upload by 10 s, extended to 20 s, the second arrives at 15 s: closes then (complete)
  const ext = closeRound([{ client: 0, arrives: 1 }, { client: 1, arrives: 15 }], rules({ minUploads: 2 }));
  assert.deepEqual([ext.seconds, ext.outcome, ext.extensions], [15, 'complete', 1]);
  const below = closeRound([{ client: 0, arrives: 1 }, { client: 1, arrives: 45 }, { client: 2, arrives: 50 }], rules({ minUploads: 2 }));
  assert.deepEqual([below.seconds, below.outcome, below.extensions, below.late], [30, 'below-minimum', 2, [1, 2]]);
  const none = closeRound([{ client: 0, goneAt: 0 }], rules({ maxExtensions: 0 }));
  assert.deepEqual([none.seconds, none.outcome, none.uploaded], [10, 'abandoned', []]);
});

test('a rejoining client is waited for again from its online status on; before it, it counts as gone', () => {
  const early = closeRound([{ client: 0, arrives: 1 }, { client: 1, arrives: 5, goneAt: 0, backAt: 3 }], rules());
  assert.deepEqual([early.seconds, early.outcome, early.uploaded, early.late, early.offline], [1, 'agents-offline', [0], [1], []]);
  const back = closeRound([{ client: 0, arrives: 1 }, { client: 1, arrives: 5, goneAt: 0, backAt: 0.5 }], rules());
  assert.deepEqual([back.seconds, back.outcome, back.uploaded], [5, 'complete', [0, 1]]);
  const never = closeRound([{ client: 0, arrives: 1 }, { client: 1 }], rules());
  assert.deepEqual([never.seconds, never.outcome, never.offline], [10, 'deadline', [1]], 'never heard from: waited for until the deadline');
});
