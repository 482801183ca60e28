/**
 * Simulated links and boards: a slow group (Pi Zero 2 W boards on a weak Wi-Fi link) misses a
 * round deadline that the fast group (Pi 5 boards on good Wi-Fi) meets, so its uploads are late
 * and NOT aggregated: the run's global prototypes are bit-identical to those of a run in which
 * the slow group was offline, and differ from a run without the deadline (which is how this test
 * fails if the deadline is ignored). Over-selection (close-at) keeps the first arrivals.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseSimulateArgs } from '../cli/simulate.ts';
import { simulate } from '../sim/simulate.ts';
import { SimCheckpointStore, setupKey } from '../sim/checkpoint.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';
import type { SimConfig } from '../sim/config.ts';

const skip = !existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`) && 'dataset-fashion-mnist not installed';

const file = (round: string, slow: string): string => `
method = "fedproto"
rounds = 1
seed = 3
families = ["resnet8"]
feature-dim = 16
[data]
samples-per-client = 60
[round]
${round}
[[group]]
name = "fast"
agents = 3
link = "wifi-good"
board = "rpi5"
[[group]]
name = "slow"
agents = 2
link = "wifi-weak"
board = "rpizero2w"
${slow}
`;

test('a slow group misses the deadline: its uploads are late and not aggregated', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-simtime-'));
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const run = async (name: string, text: string): Promise<{ config: SimConfig; result: Awaited<ReturnType<typeof simulate>>; aggregate: Map<number, Float32Array> }> => {
    const path = join(dir, `${name}.toml`);
    writeFileSync(path, text);
    const checkpoint = join(dir, `${name}.db`);
    const { config } = parseSimulateArgs(['--experiment-file', path, '--workers', '1', '--threads', '1', '--checkpoint', checkpoint]);
    const result = await simulate(config, { dataset: ds });
    const store = SimCheckpointStore.open(checkpoint);
    try {
      return { config, result, aggregate: new Map(store.load(setupKey(config))!.aggregate) };
    } finally {
      store.close();
    }
  };
  try {
    const timed = await run('deadline', file('deadline-ms = 1000', ''));
    const t = timed.config.timing!;
    assert.deepEqual(t.clients.map((c) => c.group), ['fast', 'fast', 'fast', 'slow', 'slow']);
    const r = timed.result.rounds[0]!;
    const train = new Map(timed.result.clients.map((c) => [c.client, c.train]));
    // by hand: a Pi Zero 2 W trains 0.25 x 115 = 28.75 images/s, so its ~45 images take > 1.5 s;
    // a Pi 5 (2.5 x 115 = 287.5 images/s) takes ~0.16 s, and good Wi-Fi adds milliseconds
    for (const c of r.timing!.clients) near(c.train, train.get(c.client)! / t.clients[c.client]!.boardImagesPerSec!, `client ${c.client} training time`);
    for (const c of [3, 4]) assert.ok(r.timing!.clients.find((x) => x.client === c)!.arrives > 1.5);
    for (const c of [0, 1, 2]) assert.ok(r.timing!.clients.find((x) => x.client === c)!.arrives < 0.5);
    assert.deepEqual([r.timing!.outcome, r.timing!.seconds], ['deadline', 1]);
    assert.deepEqual([...r.timing!.uploaded].sort(), [0, 1, 2]);
    assert.deepEqual(r.timing!.late, [3, 4]);
    assert.deepEqual(timed.result.summary.timing?.stragglers, [{ client: 3, rounds: 1 }, { client: 4, rounds: 1 }]);
    assert.deepEqual(r.clients.map((c) => c.client), [0, 1, 2, 3, 4], 'the slow clients trained and sent (late)');

    // the same aggregate as a round in which the slow group was offline
    const offline = await run('offline', file('deadline-ms = 1000', 'offline = [1]'));
    const o = offline.result.rounds[0]!;
    assert.deepEqual([o.timing!.offline, o.clients.map((c) => c.client)], [[3, 4], [0, 1, 2]]);
    assert.ok(timed.aggregate.size > 0);
    assert.deepEqual(timed.aggregate, offline.aggregate, 'late uploads were aggregated');

    // without the deadline (the default, 600 s) the slow uploads count: the aggregate differs
    const all = await run('no-deadline', file('', ''));
    assert.deepEqual([all.result.rounds[0]!.timing!.outcome, all.result.rounds[0]!.timing!.late], ['complete', []]);
    assert.notDeepEqual(all.aggregate, timed.aggregate);

    // over-selection: 5 selected, close at the first 3 = the fast group
    const over = await run('close-at', file('close-at = 3\nmin-uploads = 3', ''));
    const v = over.result.rounds[0]!.timing!;
    assert.deepEqual([v.outcome, [...v.uploaded].sort(), v.late], ['enough', [0, 1, 2], [3, 4]]);
    assert.deepEqual(over.aggregate, timed.aggregate);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

function near(a: number, b: number, msg: string): void {
  assert.ok(Math.abs(a - b) < 1e-9, `${msg}: ${a} != ${b}`);
}

test('a timed run resumed from its checkpoint continues the simulated clock: stragglers stay busy into the next round', { skip, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-simtime-resume-'));
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const path = join(dir, 'e.toml');
  writeFileSync(path, file('deadline-ms = 1000', ''));
  const args = (rounds: number, db: string, ...more: string[]) => parseSimulateArgs(['--experiment-file', path, '--rounds', String(rounds), '--workers', '1', '--threads', '1', '--checkpoint', join(dir, db), ...more]).config;
  try {
    const whole = await simulate(args(2, 'whole.db'), { dataset: ds });
    const [r1, r2] = whole.rounds.map((r) => r.timing!);
    assert.equal(r2!.openedAt, r1!.seconds, 'round 2 opens when round 1 closes');
    // the slow clients were still uploading round 1 when round 2 opened: they start late
    for (const c of [3, 4]) {
      const prev = r1!.clients.find((x) => x.client === c)!;
      near(r2!.clients.find((x) => x.client === c)!.start, prev.arrives - r1!.seconds, `client ${c} start`);
    }
    assert.deepEqual(r2!.late, [3, 4]);
    await simulate(args(1, 'part.db'), { dataset: ds });
    const resumed = await simulate(args(2, 'part.db', '--resume'), { dataset: ds });
    assert.equal(resumed.resumedFrom, 1);
    assert.deepEqual(resumed.rounds.map((r) => r.timing), whole.rounds.map((r) => r.timing));
    assert.deepEqual(resumed.summary.timing, whole.summary.timing);
    // the timing is part of the setup: another deadline cannot continue this checkpoint
    await assert.rejects(simulate(args(3, 'part.db', '--resume', '--deadline-ms', '2000'), { dataset: ds }), /another experiment setup/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
