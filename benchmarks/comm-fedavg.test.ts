import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chunkPayloads, fedavgChunks, fedavgStateBytes } from './comm-fedavg.ts';

test('a FedAvg transfer is split at the protocol message limit', () => {
  assert.deepEqual(fedavgChunks(600_000), [262_144, 262_144, 75_712]);
  assert.deepEqual(fedavgChunks(262_144), [262_144]);
  assert.deepEqual(fedavgChunks(10, 4), [4, 4, 2]);
  assert.deepEqual(fedavgChunks(0), []);
  assert.deepEqual(chunkPayloads(600_000).map((c) => c.length), [262_144, 262_144, 75_712]);
});

test("FedAvg's bytes are a real ResNet-8 state's float32 tensors, batch-norm statistics included", async () => {
  const s = await fedavgStateBytes();
  assert.equal(s.bytes % 4, 0);
  // every trainable parameter, plus the running means and variances
  assert.ok(s.bytes > s.params * 4, `${s.bytes} B for ${s.params} parameters`);
  assert.ok(s.bytes < s.params * 4 * 1.1, `${s.bytes} B for ${s.params} parameters`);
  assert.ok(s.tensors > 10);
});
