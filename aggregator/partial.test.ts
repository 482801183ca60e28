/**
 * The coordinator's side of relays: a PARTIAL is checked before any effect, merged, answered;
 * a resend is a duplicate, an overlap with agents already counted is refused whole, a sender
 * that is not a configured relay is refused; the round's global equals one aggregator's for the
 * same uploads; a restarted coordinator rebuilds the merged sums from its store.
 */
import { test } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Aggregator } from './aggregator.ts';
import { resolveExperimentConfig } from './config.ts';
import { openAggregatorStore, type AggregatorStore } from './store.ts';
import type { AggregatorTransport } from './aggregator-types.ts';
import { decodeGlobal, decodeReceipt, encodePartial, encodeUpload } from '../wire/codec.ts';
import { RunningSums } from '../method/running-sum.ts';

const config = resolveExperimentConfig({ experiment: 'rel', method: 'fedproto', agents: ['a1', 'a2', 'a3', 'a4'], rounds: 1, numClasses: 2, featureDim: 2, roundDeadlineMs: 60_000 });
const H = (sender: string) => ({ experiment: 'rel', sender, round: 1 });
const values = (a: number): Float32Array => Float32Array.of(a, a / 4);
const upload = (agent: string, a: number): Uint8Array =>
  encodeUpload(H(agent), { K: 2, d: 2, s: 2, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 0, values: values(a) }] });
function partial(relay: string, agents: Record<string, number>): Uint8Array {
  const sums = new RunningSums(2, 2);
  for (const [agent, a] of Object.entries(agents)) sums.add(new Map([[0, values(a)]]), agent);
  return encodePartial(H(relay), { K: 2, d: 2, s: 2, layout: 'dense', classes: sums.parts(), agents: Object.keys(agents) });
}

function harness(store: AggregatorStore) {
  let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  const receipts: { to: string; outcome: string; code: string }[] = [];
  const globals: Uint8Array[] = [];
  const transport: AggregatorTransport = {
    publishRetained: async (kind, bytes) => void (kind === 'global' && globals.push(bytes)),
    publishReceipt: async (to, bytes) => {
      const r = decodeReceipt(bytes).body;
      receipts.push({ to, outcome: r.outcome, code: r.code });
    },
    onAgentMessage: (h) => void (handler = h),
    close: async () => undefined,
  };
  const aggregator = new Aggregator({ config, store, transport, relays: ['relay-a', 'relay-b'] });
  const send = (kind: 'upload' | 'partial', from: string, bytes: Uint8Array): Promise<void> =>
    new Promise((resolve) => handler!(kind, from, bytes, () => resolve()));
  return { aggregator, receipts, globals, send };
}

test('partials merge with direct uploads into the global one aggregator computes; duplicates, overlaps and strangers are refused', async () => {
  const store = openAggregatorStore(':memory:');
  const h = harness(store);
  try {
    await h.aggregator.start();
    await h.send('upload', 'a1', upload('a1', 1));
    await h.send('partial', 'relay-a', partial('relay-a', { a2: 2, a3: 3 }));
    await h.send('partial', 'relay-a', partial('relay-a', { a2: 2, a3: 3 })); // a resend
    await h.send('partial', 'relay-b', partial('relay-b', { a3: 3, a4: 4 })); // a3 is counted already
    await h.send('partial', 'relay-x', partial('relay-x', { a4: 4 })); // not a configured relay
    assert.deepEqual(h.receipts, [
      { to: 'a1', outcome: 'accepted', code: '' },
      { to: 'relay-a', outcome: 'accepted', code: '' },
      { to: 'relay-a', outcome: 'duplicate', code: '' },
      { to: 'relay-b', outcome: 'rejected', code: 'E_PARTIAL_OVERLAP' },
    ]);
    assert.equal(store.rounds('rel')[0]!.status, 'open', 'a4 is still expected');
    await h.send('upload', 'a4', upload('a4', 4));
    await h.aggregator.done;
    const g = decodeGlobal(h.globals.at(-1)!).body.prototypes;
    assert.deepEqual(g.map((p) => [p.classId, p.contributors, [...p.values]]), [[0, 4, [2.5, 0.625]]]);
    assert.equal(store.rounds('rel')[0]!.uploads, 2, 'two direct uploads kept as uploads');
    assert.deepEqual(store.partials.forRound('rel', 1).map((p) => p.relay), ['relay-a']);
    assert.deepEqual(Object.keys(store.rejectionCounts('rel')).sort(), ['E_DUPLICATE', 'E_PARTIAL_OVERLAP', 'E_UNKNOWN_RELAY']);
  } finally {
    await h.aggregator.stop();
    store.close();
  }
});

test('a restarted coordinator rebuilds the round from its uploads and partials, and refuses the relay resend as a duplicate', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-coord-'));
  const path = `${dir}/c.db`;
  let store = openAggregatorStore(path);
  let h = harness(store);
  await h.aggregator.start();
  await h.send('partial', 'relay-a', partial('relay-a', { a1: 1, a2: 2, a3: 3 }));
  await h.aggregator.stop();
  store.close();
  store = openAggregatorStore(path);
  h = harness(store);
  try {
    await h.aggregator.start();
    await h.send('partial', 'relay-a', partial('relay-a', { a1: 1, a2: 2, a3: 3 }));
    await h.send('upload', 'a2', upload('a2', 2)); // counted through the partial already
    await h.send('upload', 'a4', upload('a4', 4));
    await h.aggregator.done;
    assert.deepEqual(h.receipts.map((r) => `${r.to}:${r.outcome}`), ['relay-a:duplicate', 'a2:duplicate', 'a4:accepted']);
    const g = decodeGlobal(h.globals.at(-1)!).body.prototypes;
    assert.deepEqual(g.map((p) => [p.contributors, [...p.values]]), [[4, [2.5, 0.625]]]);
  } finally {
    await h.aggregator.stop();
    store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
