/**
 * The relay's round handling with in-memory links: seal when complete, at the deadline minus the
 * margin, or when the next ROUND comes; uploads of a sealed round refused (new) or answered as
 * duplicates (stored); the PARTIAL resent until the coordinator's RECEIPT settles it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Relay, type RoundSealed } from './relay.ts';
import type { RelayUpstream, UpstreamKind } from './upstream.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import type { AggregatorTransport } from '../aggregator/aggregator-types.ts';
import { decodePartial, decodeReceipt, encodeReceipt, encodeRound, encodeUpload, payloadCrc, peekHeader } from '../wire/codec.ts';

const E = 'rl';
const config = resolveExperimentConfig({ experiment: E, method: 'fedproto', agents: ['a1', 'a2'], rounds: 2, numClasses: 2, featureDim: 2 });
const round = (r: number, deadlineMs: number): Uint8Array =>
  encodeRound({ experiment: E, sender: 'aggregator', round: r }, { method: 'fedproto', valueType: 'float32', deadlineMs, lambda: 1, lr: 0.1, batchSize: 8, localEpochs: 1, selected: [] });
const upload = (agent: string, r: number, a: number): Uint8Array =>
  encodeUpload({ experiment: E, sender: agent, round: r }, { K: 2, d: 2, s: 2, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 1, values: Float32Array.of(a, -a) }] });

function setup(marginMs = 2000) {
  const store = openAggregatorStore(':memory:');
  let agentHandler: Parameters<AggregatorTransport['onAgentMessage']>[0] | null = null;
  let upHandler: ((kind: UpstreamKind, bytes: Uint8Array) => void) | null = null;
  const receipts: { agent: string; round: number; outcome: string; code: string }[] = [];
  const retained: string[] = [];
  const partials: Uint8Array[] = [];
  const transport: AggregatorTransport = {
    publishRetained: async (kind) => void retained.push(kind),
    publishReceipt: async (agent, bytes) => {
      const r = decodeReceipt(bytes);
      receipts.push({ agent, round: r.header.round, outcome: r.body.outcome, code: r.body.code });
    },
    onAgentMessage: (h) => void (agentHandler = h),
    close: async () => undefined,
  };
  const upstream: RelayUpstream = { onMessage: (h) => void (upHandler = h), publishPartial: async (b) => void partials.push(b), close: async () => undefined };
  const relay = new Relay({ config, store, transport, upstream, relayId: 'relay-a', marginMs, resendMs: 60_000 });
  const sealed: RoundSealed[] = [];
  relay.on('sealed', (s: RoundSealed) => sealed.push(s));
  const idle = (): Promise<void> => new Promise((r) => setTimeout(r, 30));
  const fromAgent = async (agent: string, bytes: Uint8Array): Promise<void> => (agentHandler!('upload', agent, bytes), idle());
  const fromCoordinator = async (kind: UpstreamKind, bytes: Uint8Array): Promise<void> => (upHandler!(kind, bytes), idle());
  return { store, relay, receipts, retained, partials, sealed, fromAgent, fromCoordinator };
}

test('the next ROUND seals an open round; a sealed round refuses new uploads and answers stored ones as duplicates; a RECEIPT settles the PARTIAL', async () => {
  const t = setup();
  try {
    await t.relay.start();
    await t.fromCoordinator('round', round(1, Date.now() + 60_000));
    assert.deepEqual(t.retained, ['round']);
    await t.fromAgent('a1', upload('a1', 1, 1));
    await t.fromCoordinator('round', round(1, Date.now() + 60_000)); // the retained ROUND again: nothing happens
    assert.equal(t.sealed.length, 0);
    await t.fromCoordinator('round', round(2, Date.now() + 60_000));
    assert.deepEqual(t.sealed.map((s) => [s.round, s.uploads, s.outcome]), [[1, 1, 'superseded']]);
    const p1 = decodePartial(t.partials[0]!).body;
    assert.deepEqual([p1.agents, p1.classes.map((c) => [c.classId, c.contributors, [...c.sums]])], [['a1'], [[1, 1, [1, -1]]]]);
    await t.fromAgent('a2', upload('a2', 1, 2)); // too late for round 1
    await t.fromAgent('a1', upload('a1', 1, 1)); // a resend: it is stored
    assert.deepEqual(t.receipts.map((r) => `${r.agent}:${r.round}:${r.outcome}${r.code ? `:${r.code}` : ''}`), ['a1:1:accepted', 'a2:1:rejected:E_ROUND', 'a1:1:duplicate']);
    assert.deepEqual(t.relay.unsettledRounds(), [1]);
    const crc = payloadCrc(t.partials[0]!, peekHeader(t.partials[0]!));
    await t.fromCoordinator('receipt', encodeReceipt({ experiment: E, sender: 'aggregator', round: 1 }, { agent: 'relay-a', outcome: 'accepted', uploadCrc: (crc ^ 1) >>> 0, code: '' }));
    assert.deepEqual(t.relay.unsettledRounds(), [1], 'a receipt for other bytes settles nothing');
    await t.fromCoordinator('receipt', encodeReceipt({ experiment: E, sender: 'aggregator', round: 1 }, { agent: 'relay-a', outcome: 'accepted', uploadCrc: crc, code: '' }));
    assert.deepEqual(t.relay.unsettledRounds(), []);
    // round 2: complete as soon as both site agents uploaded
    await t.fromAgent('a1', upload('a1', 2, 1));
    await t.fromAgent('a2', upload('a2', 2, 3));
    assert.deepEqual(t.sealed.map((s) => [s.round, s.uploads, s.outcome]).at(-1), [2, 2, 'complete']);
    assert.deepEqual(decodePartial(t.partials.at(-1)!).body.classes[0]!.sums, Float64Array.of(4, -4));
  } finally {
    await t.relay.stop();
    t.store.close();
  }
});

test('a round is sealed marginMs before the coordinator deadline with what arrived', async () => {
  const t = setup(100);
  try {
    await t.relay.start();
    await t.fromCoordinator('round', round(1, Date.now() + 300));
    await t.fromAgent('a2', upload('a2', 1, 2));
    assert.equal(t.sealed.length, 0);
    await new Promise((r) => setTimeout(r, 400));
    assert.deepEqual(t.sealed.map((s) => [s.round, s.uploads, s.selected, s.outcome]), [[1, 1, 2, 'deadline']]);
    assert.deepEqual(decodePartial(t.partials[0]!).body.agents, ['a2']);
  } finally {
    await t.relay.stop();
    t.store.close();
  }
});
