/**
 * Training-sample counts through relays (PROTOCOL.md §3.8): a relay's PARTIAL carries its
 * agents' counts summed (how many agents, their total), also after a restart; the coordinator
 * adds them to its direct agents' counts for mu 'auto' and refuses a relay whose sum contradicts
 * its earlier one (E_TRAIN_SAMPLES).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay } from './relay.ts';
import type { RelayUpstream, UpstreamKind } from './upstream.ts';
import { Aggregator } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore, type AggregatorStore } from '../aggregator/store.ts';
import type { AggregatorTransport, RoundClosed } from '../aggregator/aggregator-types.ts';
import { decodePartial, decodeReceipt, encodePartial, encodeRound, encodeUpload, type PartialTrainSamples } from '../wire/codec.ts';
import { muFromTotals } from '../method/aggregate.ts';
import { RunningSums } from '../method/running-sum.ts';

const E = 'rc';

function transportFor(receipts: string[], onHandler: (h: Parameters<AggregatorTransport['onAgentMessage']>[0]) => void, globals: Uint8Array[] = []): AggregatorTransport {
  return {
    publishRetained: async (kind, bytes) => void (kind === 'global' && globals.push(bytes)),
    publishReceipt: async (to, bytes) => {
      const r = decodeReceipt(bytes).body;
      receipts.push(`${to}:${r.outcome}${r.code ? `:${r.code}` : ''}`);
    },
    onAgentMessage: (h) => onHandler(h),
    close: async () => undefined,
  };
}

test('a relay sums its agents\' counts into each PARTIAL, and still does after a restart', async () => {
  const config = resolveExperimentConfig({ experiment: E, method: 'fedproto', agents: ['a1', 'a2', 'a3'], rounds: 3, numClasses: 2, featureDim: 2 });
  const round = (r: number): Uint8Array =>
    encodeRound({ experiment: E, sender: 'aggregator', round: r }, { method: 'fedproto', valueType: 'float32', deadlineMs: Date.now() + 600_000, lambda: 1, lr: 0.1, batchSize: 8, localEpochs: 1, selected: r === 1 ? ['a1', 'a2'] : ['a2', 'a3'] });
  const upload = (agent: string, r: number, n: number): Uint8Array =>
    encodeUpload({ experiment: E, sender: agent, round: r }, { K: 2, d: 2, s: 2, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 1, values: Float32Array.of(1, -1) }], trainSamples: n });
  const store = openAggregatorStore(':memory:');
  const partials: Uint8Array[] = [];
  const start = async (): Promise<{ relay: Relay; up: (k: UpstreamKind, b: Uint8Array) => void; send: (a: string, b: Uint8Array) => Promise<void>; receipts: string[] }> => {
    let agentHandler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
    let upHandler: ((kind: UpstreamKind, bytes: Uint8Array) => void) | null = null;
    const receipts: string[] = [];
    const upstream: RelayUpstream = { onMessage: (h) => void (upHandler = h), publishPartial: async (b) => void partials.push(b), close: async () => undefined };
    const relay = new Relay({ config, store, transport: transportFor(receipts, (h) => (agentHandler = h)), upstream, relayId: 'relay-a', resendMs: 60_000 });
    await relay.start();
    return { relay, receipts, up: (k, b) => upHandler!(k, b), send: (a, b) => new Promise((resolve) => agentHandler!('upload', a, b, () => resolve())) };
  };
  // per round (an unsettled PARTIAL is resent as it was stored)
  const byRound = (): Map<number, PartialTrainSamples | null | undefined> => new Map(partials.map((p) => [decodePartial(p).header.round, decodePartial(p).body.trainSamples]));
  const counts = (): (PartialTrainSamples | null | undefined)[] => [...byRound().values()];
  const waitPartials = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && byRound().size < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  const first = await start();
  first.up('round', round(1));
  await first.send('a1', upload('a1', 1, 100));
  await first.send('a2', upload('a2', 1, 250));
  await waitPartials(1);
  assert.deepEqual(counts(), [{ agents: 2, total: 350 }]);
  await first.relay.stop();
  // restarted: the counts it had are re-read from its store; a changed one is refused
  const second = await start();
  second.up('round', round(2));
  await second.send('a2', upload('a2', 2, 251));
  assert.equal(second.receipts.at(-1), 'a2:rejected:E_TRAIN_SAMPLES');
  await second.send('a2', upload('a2', 2, 250));
  await second.send('a3', upload('a3', 2, 50));
  await waitPartials(2);
  assert.deepEqual(counts(), [{ agents: 2, total: 350 }, { agents: 3, total: 400 }]);
  await second.relay.stop();
  store.close();
});

test('a coordinator takes mu from its direct agents\' counts plus each relay\'s sum, and refuses a sum that changes', async () => {
  const agents = ['a1', 'a2', 'a3', 'a4'];
  const config = resolveExperimentConfig({ experiment: E, method: 'tinyproto', agents, rounds: 2, numClasses: 2, featureDim: 4, ratio: 0.5, roundDeadlineMs: 600_000 });
  const H = (sender: string, round: number) => ({ experiment: E, sender, round });
  const upload = (agent: string, r: number, n: number): Uint8Array =>
    encodeUpload(H(agent, r), { K: 2, d: 4, s: 2, layout: 'sparse', valueType: 'float32', prototypes: [{ classId: 0, values: Float32Array.of(1, 2) }], trainSamples: n });
  const partial = (r: number, names: string[], t: PartialTrainSamples): Uint8Array => {
    const sums = new RunningSums(2, 2);
    for (const a of names) sums.add(new Map([[0, Float32Array.of(1, 2)]]), a);
    return encodePartial(H('relay-a', r), { K: 2, d: 4, s: 2, layout: 'sparse', classes: sums.parts(), agents: names, trainSamples: t });
  };
  const store: AggregatorStore = openAggregatorStore(':memory:');
  const receipts: string[] = [];
  let handler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  const aggregator = new Aggregator({ config, store, transport: transportFor(receipts, (h) => (handler = h)), relays: ['relay-a'] });
  const closed: RoundClosed[] = [];
  aggregator.on('roundClosed', (r: RoundClosed) => closed.push(r));
  const send = (kind: 'upload' | 'partial', from: string, b: Uint8Array): Promise<void> => new Promise((resolve) => handler!(kind, from, b, () => resolve()));
  const waitClosed = async (n: number): Promise<void> => {
    for (let i = 0; i < 200 && closed.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  };
  try {
    await aggregator.start();
    await send('upload', 'a1', upload('a1', 1, 100));
    await send('partial', 'relay-a', partial(1, ['a2', 'a3'], { agents: 2, total: 500 }));
    await send('upload', 'a4', upload('a4', 1, 200));
    await waitClosed(1);
    assert.deepEqual([closed[0]!.mu, closed[0]!.totalTrainSamples, closed[0]!.muSource], [muFromTotals(800, 2, 0.65), 800, 'reported']);
    await send('partial', 'relay-a', partial(2, ['a2', 'a3'], { agents: 2, total: 501 }));
    assert.equal(receipts.at(-1), 'relay-a:rejected:E_TRAIN_SAMPLES');
    await send('partial', 'relay-a', partial(2, ['a2', 'a3'], { agents: 2, total: 500 }));
    assert.equal(receipts.at(-1), 'relay-a:accepted');
  } finally {
    await aggregator.stop();
    store.close();
  }
});
