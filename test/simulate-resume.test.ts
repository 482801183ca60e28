/**
 * A long run stopped and continued (`simulate --checkpoint FILE --resume`) computes exactly what
 * the uninterrupted run computes: same losses, accuracies and global prototypes, even when the
 * continuation spreads the clients over worker threads. Also: --eval-every and the plateau rule.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSimConfig, type SimConfig } from '../sim/config.ts';
import { simulate, type RoundRecord } from '../sim/simulate.ts';
import { SimCheckpointStore, setupKey } from '../sim/checkpoint.ts';
import { DEFAULT_DATA_DIR, loadDataset } from '../data/index.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const skip = !haveData && 'dataset-fashion-mnist not installed (scripts/setup.sh installs it)';

const base: Partial<SimConfig> = { method: 'tinyproto', clients: 3, alpha: 0.5, samplesPerClient: 96, seed: 11, families: ['resnet8', 'mobilenetv2'], threads: 1 };
const learned = (r: RoundRecord): unknown => ({ round: r.round, head: r.accuracyHead, proto: r.accuracyPrototype, loss: r.loss, protoLoss: r.protoLoss, up: r.bytesUp });

test('a run stopped after round 2 and resumed from its checkpoint equals the uninterrupted run', { skip, timeout: 300_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-'));
  try {
    const whole = resolveSimConfig({ ...base, rounds: 3, workers: 1, checkpoint: join(dir, 'whole.db') });
    const a = await simulate(whole, { dataset: ds });
    const part = join(dir, 'part.db');
    const first = await simulate(resolveSimConfig({ ...base, rounds: 2, workers: 1, checkpoint: part }), { dataset: ds });
    assert.equal(first.rounds.length, 2);
    const b = await simulate(resolveSimConfig({ ...base, rounds: 3, workers: 2, checkpoint: part, resume: true }), { dataset: ds });
    assert.equal(b.resumedFrom, 2);
    assert.equal(b.rounds.length, 3);
    assert.deepEqual(b.rounds.map(learned), a.rounds.map(learned));
    const read = (p: string) => {
      const s = SimCheckpointStore.open(p);
      try {
        return s.load(setupKey(whole))!;
      } finally {
        s.close();
      }
    };
    const ca = read(join(dir, 'whole.db'));
    const cb = read(part);
    assert.equal(cb.round, 3);
    assert.deepEqual(cb.aggregate, ca.aggregate);
    assert.deepEqual(cb.received, ca.received);
    assert.deepEqual(cb.states, ca.states);
    // a different setup cannot continue this checkpoint
    await assert.rejects(simulate(resolveSimConfig({ ...base, seed: 12, rounds: 4, workers: 1, checkpoint: part, resume: true }), { dataset: ds }), /another experiment setup \(seed: 11 in the checkpoint, 12 now\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--eval-every evaluates every k-th and the last round; the plateau rule ends a run early', { skip, timeout: 300_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const sparse = await simulate(resolveSimConfig({ ...base, rounds: 3, workers: 1, evalEvery: 2 }), { dataset: ds });
  assert.deepEqual(sparse.rounds.map((r) => r.evaluated), [false, true, true]);
  assert.equal(sparse.rounds[0]!.accuracyHead, null);
  assert.equal(sparse.rounds[0]!.clients[0]!.telemetry.accuracy, null);
  assert.ok(sparse.rounds[2]!.accuracyHead !== null);
  // any improvement under 100 points is "nothing new": the run stops at the second evaluation
  const flat = await simulate(resolveSimConfig({ ...base, rounds: 5, workers: 1, plateau: 1, plateauDelta: 1 }), { dataset: ds });
  assert.deepEqual(flat.stopped, { reason: 'plateau', round: 2 });
  assert.equal(flat.rounds.length, 2);
});

test('fedavg: after every round all clients hold one averaged model, and its bytes are counted both ways', { skip, timeout: 300_000 }, async () => {
  const ds = loadDataset(DEFAULT_DATA_DIR, 'all');
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-fedavg-'));
  try {
    const cfg = resolveSimConfig({ ...base, method: 'fedavg', families: ['resnet8'], rounds: 2, workers: 2, checkpoint: join(dir, 'c.db') });
    const res = await simulate(cfg, { dataset: ds });
    const s = SimCheckpointStore.open(cfg.checkpoint!);
    const cp = s.load(setupKey(cfg))!;
    s.close();
    assert.equal(cp.states.length, 3);
    assert.deepEqual(cp.states[1], cp.states[0]);
    assert.deepEqual(cp.states[2], cp.states[0]);
    const floats = Object.values(cp.states[0]!).reduce((a, t) => a + t.data.length, 0);
    for (const r of res.rounds) {
      assert.equal(r.bytesUpPerClient, floats * 4);
      assert.equal(r.bytesDownPerClient, floats * 4);
      assert.equal(r.accuracyPrototype, null);
    }
    assert.ok(res.models.every((m) => m.family === 'resnet8'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
