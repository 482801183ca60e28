/** Contract of the simulation's checkpoint store, against :memory: and a file. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimCheckpointStore, setupKey, type SimCheckpoint } from './checkpoint.ts';
import { resolveSimConfig } from './config.ts';
import type { RoundRecord } from './simulate.ts';

function record(round: number): RoundRecord {
  return {
    round,
    selected: [0, 1],
    evaluated: true,
    accuracyHead: 0.5 + round / 100,
    accuracyPrototype: null,
    accuracyPrototypeOwn: 0.7,
    bytesUp: 10,
    bytesDown: 20,
    bytesUpPerClient: 5,
    bytesDownPerClient: 10,
    messageBytesUpPerClient: 7,
    messageBytesDownPerClient: 12,
    loss: 1.5,
    protoLoss: 0,
    gradNormMax: 1.25,
    clippedSteps: 0,
    seconds: 0.25,
    prototypeScales: [{ classId: 1, samples: 4, localNorm: 2.5, onMask: 0.5, globalNorm: null, ratio: null, muScale: 0.1 }],
    clients: [],
  };
}

function checkpoint(round: number): SimCheckpoint {
  return {
    round,
    records: Array.from({ length: round }, (_, i) => record(i + 1)),
    states: [
      { 'conv.w': { shape: [2, 2], data: new Float32Array([1, 2, 3, round]) }, 'bn.mean': { shape: [1], data: new Float32Array([0.5]) } },
      { 'conv.w': { shape: [2, 2], data: new Float32Array([-1, -2, -3, -round]) } },
    ],
    aggregate: new Map([[3, new Float32Array([0.25, 0.5])], [7, new Float32Array([1e-7, -2])]]),
    received: new Map([[3, new Float32Array([0.25, 0.5])]]),
  };
}

const key = setupKey(resolveSimConfig({ clients: 2, seed: 3 }));

for (const where of ['memory', 'file'] as const) {
  test(`checkpoint store (${where}): save then load gives the checkpoint back; a later save replaces it`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyproto-ckpt-'));
    const path = where === 'memory' ? ':memory:' : join(dir, 'run.db');
    try {
      let store = SimCheckpointStore.open(path);
      assert.equal(store.load(key), null);
      store.save(key, checkpoint(2));
      store.save(key, checkpoint(3));
      if (where === 'file') {
        store.close();
        store = SimCheckpointStore.open(path);
      }
      const back = store.load(key)!;
      const want = checkpoint(3);
      assert.equal(back.round, 3);
      assert.deepEqual(back.records, want.records);
      assert.deepEqual(back.states, want.states);
      assert.deepEqual(back.aggregate, want.aggregate);
      assert.deepEqual(back.received, want.received);
      store.save(key, { ...checkpoint(1), received: null });
      assert.equal(store.load(key)!.received, null);
      store.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test(`checkpoint store (${where}): a checkpoint of another setup is refused, naming the field`, () => {
    const store = SimCheckpointStore.open(where === 'memory' ? ':memory:' : join(mkdtempSync(join(tmpdir(), 'tinyproto-ckpt-')), 'run.db'));
    store.save(key, checkpoint(1));
    const other = setupKey(resolveSimConfig({ clients: 2, seed: 4 }));
    assert.throws(() => store.load(other), (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /another experiment setup \(seed: 3 in the checkpoint, 4 now\)/.test(e.message));
    // rounds, evaluation schedule, stopping rule, workers and threads do not make another setup
    assert.equal(setupKey(resolveSimConfig({ clients: 2, seed: 3, rounds: 300, evalEvery: 5, plateau: 10, workers: 1, threads: 2 })), key);
    // a setting added later counts only away from its default, so earlier checkpoints still resume
    assert.equal(setupKey(resolveSimConfig({ clients: 2, seed: 3, prototypeAggregation: 'scaled' })), key);
    assert.notEqual(setupKey(resolveSimConfig({ clients: 2, seed: 3, prototypeAggregation: 'mean' })), key);
    store.close();
  });
}

test('checkpoint store: inconsistent checkpoints and foreign files are E_STORE', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-ckpt-'));
  try {
    const store = SimCheckpointStore.open(':memory:');
    assert.throws(() => store.save(key, { ...checkpoint(2), records: [record(1)] }), (e: Error & { code?: string }) => e.code === 'E_STORE' && /round 2 with 1 round records/.test(e.message));
    store.close();
    const junk = join(dir, 'junk.db');
    writeFileSync(junk, 'not a database at all, just text '.repeat(40));
    assert.throws(() => SimCheckpointStore.open(junk), (e: Error & { code?: string }) => e.code === 'E_STORE' && /not a tinyproto simulation store/.test(e.message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
