/**
 * Over-selection (`--close-at K`): a round closes at its first K uploads, not at its deadline;
 * the uploads that arrive later are refused as stale (E_ROUND, in the rejection counts), and the
 * round's summary says why it closed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Aggregator } from './aggregator.ts';
import { resolveExperimentConfig } from './config.ts';
import { openAggregatorStore } from './store.ts';
import type { AggregatorTransport } from './aggregator-types.ts';
import { decodeGlobal, decodeReceipt, encodeUpload } from '../wire/codec.ts';

const agents = ['a1', 'a2', 'a3', 'a4', 'a5'];
const config = resolveExperimentConfig({ experiment: 'over', method: 'fedproto', agents, rounds: 1, numClasses: 2, featureDim: 2, roundDeadlineMs: 600_000, closeAt: 3 });
const upload = (agent: string, a: number): Uint8Array =>
  encodeUpload({ experiment: 'over', sender: agent, round: 1 }, { K: 2, d: 2, s: 2, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 0, values: Float32Array.of(a, 0) }] });

test('over-selection: the round closes at its first 3 of 5 uploads; the late ones are stale', async () => {
  const store = openAggregatorStore(':memory:');
  let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  const receipts: string[] = [];
  const globals: Uint8Array[] = [];
  const transport: AggregatorTransport = {
    publishRetained: async (kind, bytes) => void (kind === 'global' && globals.push(bytes)),
    publishReceipt: async (to, bytes) => void receipts.push(`${to}:${decodeReceipt(bytes).body.outcome}`),
    onAgentMessage: (h) => void (handler = h),
    close: async () => undefined,
  };
  const aggregator = new Aggregator({ config, store, transport });
  const send = (agent: string, a: number): Promise<void> => new Promise((resolve) => handler!('upload', agent, upload(agent, a), () => resolve()));
  try {
    await aggregator.start();
    for (const [i, a] of ['a2', 'a5', 'a1'].entries()) await send(a, i + 1);
    await aggregator.done;
    const round = store.rounds('over')[0]!;
    assert.equal(round.status, 'closed');
    assert.equal(round.uploads, 3);
    const g = decodeGlobal(globals.at(-1)!).body.prototypes;
    assert.deepEqual(g.map((p) => [p.contributors, [...p.values]]), [[3, [2, 0]]]);
    await send('a3', 9);
    assert.deepEqual(receipts, ['a2:accepted', 'a5:accepted', 'a1:accepted', 'a3:rejected']);
    assert.equal(store.rejectionCounts('over')['E_ROUND'], 1);
  } finally {
    await aggregator.stop();
    store.close();
  }
});

test('close-at is checked against the round size', () => {
  assert.throws(() => resolveExperimentConfig({ experiment: 'over', method: 'fedproto', agents, participation: 0.4, closeAt: 3 }), /invalid closeAt: must be between 1 and 2/);
  assert.throws(() => resolveExperimentConfig({ experiment: 'over', method: 'fedproto', agents, minUploads: 2, closeAt: 1 }), /invalid closeAt: must be between 2 and 5/);
});
