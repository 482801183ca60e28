import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodeStatus } from '../wire/codec.ts';
import { ed25519Signer, generateSigningKey, publicKeyHex } from '../wire/signature.ts';
import { signFrame } from '../wire/sign-frame.ts';
import type { AgentTopic } from '../wire/topics.ts';
import { openAggregatorStore } from './store.ts';
import { AgentAuthentication } from './authenticity.ts';
import type { AggregatorTransport } from './aggregator-types.ts';

type Handler = Parameters<AggregatorTransport['onAgentMessage']>[0];

class InnerTransport implements AggregatorTransport {
  handler: Handler | null = null;
  async publishRetained(): Promise<void> {}
  async publishReceipt(): Promise<void> {}
  onAgentMessage(h: Handler): void {
    this.handler = h;
  }
  async close(): Promise<void> {}
}

const status = (agent: string): Uint8Array =>
  encodeStatus({ experiment: 'e1', sender: agent, round: 0 }, { state: 'idle', timeMs: 1, lastRound: 0, modelFamily: 'resnet8', note: '' });

function setup() {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-pin-'));
  const path = join(dir, 'agg.db');
  const store = openAggregatorStore(path);
  store.createExperiment('e1', { x: 1 }, null);
  const auth = new AgentAuthentication({ store, experiment: 'e1', agents: ['a1', 'a2'], now: () => 42 });
  const inner = new InnerTransport();
  const got: { agent: string; ack: (() => void) | undefined }[] = [];
  auth.wrap(inner).onAgentMessage((_kind, agent, _bytes, ack) => got.push({ agent, ack }));
  const deliver = (kind: AgentTopic, agent: string, bytes: Uint8Array, ack?: () => void): void => inner.handler!(kind, agent, bytes, ack);
  return { path, store, got, deliver, done: () => (store.close(), rmSync(dir, { recursive: true, force: true })) };
}

test('aggregator keys: a first-contact pin is written inside the next durable batch commit, or by syncPins', () => {
  const s = setup();
  try {
    const k = ed25519Signer(generateSigningKey().privateKeyPem);
    const hex = publicKeyHex(k.publicKey);
    const other = openAggregatorStore(s.path);
    assert.equal(s.store.keys.unsyncedPins, false);
    assert.equal(s.store.keys.pinAgentKey('e1', 'a1', hex, 'pinned', 1).publicKey, hex);
    assert.equal(s.store.keys.unsyncedPins, true);
    // seen by this store at once, not written yet
    assert.equal(s.store.keys.agentKey('e1', 'a1')?.source, 'pinned');
    assert.deepEqual(s.store.keys.agentKeys('e1').map((r) => r.agent), ['a1']);
    assert.equal(other.keys.agentKey('e1', 'a1'), null);
    // a failed batch keeps it pending
    assert.throws(() => s.store.commitBatch('nope', { uploads: [], agents: [], telemetry: [] }));
    assert.equal(s.store.keys.unsyncedPins, true);
    s.store.commitBatch('e1', { uploads: [], agents: [], telemetry: [] });
    assert.equal(s.store.keys.unsyncedPins, false, 'written in the batch transaction (synchronous=FULL)');
    assert.equal(other.keys.agentKey('e1', 'a1')?.publicKey, hex);
    // pinning a key already pinned keeps the first one and writes nothing
    const k2 = ed25519Signer(generateSigningKey().privateKeyPem);
    assert.equal(s.store.keys.pinAgentKey('e1', 'a1', publicKeyHex(k2.publicKey), 'pinned', 2).publicKey, hex);
    assert.equal(s.store.keys.unsyncedPins, false);
    s.store.keys.pinAgentKey('e1', 'a2', hex, 'pinned', 3);
    assert.equal(s.store.keys.pinAgentKey('e1', 'a2', publicKeyHex(k2.publicKey), 'pinned', 4).publicKey, hex, 'a pending pin is kept too');
    s.store.keys.syncPins();
    assert.equal(s.store.keys.unsyncedPins, false);
    assert.equal(other.keys.agentKey('e1', 'a2')?.pinnedAt, 3);
    // configured keys replace pins and are durable on their own, pending or not
    s.store.keys.pinAgentKey('e1', 'a3', hex, 'pinned', 5);
    s.store.keys.pinAgentKey('e1', 'a3', publicKeyHex(k2.publicKey), 'configured', 6);
    assert.equal(s.store.keys.unsyncedPins, false);
    assert.equal(other.keys.agentKey('e1', 'a3')?.publicKey, publicKeyHex(k2.publicKey));
    // close writes what is pending
    s.store.keys.pinAgentKey('e1', 'a4', hex, 'pinned', 7);
    s.store.close();
    assert.equal(other.keys.agentKey('e1', 'a4')?.pinnedAt, 7);
    other.close();
  } finally {
    rmSync(dirname(s.path), { recursive: true, force: true });
  }
});

test('aggregator: a message that pinned its key is acknowledged only after the pin is durable; others keep their own ack', () => {
  const s = setup();
  try {
    const k1 = ed25519Signer(generateSigningKey().privateKeyPem);
    const sign = (b: Uint8Array) => signFrame(b, k1, { embedKey: true });
    const acks: string[] = [];
    s.deliver('status', 'a1', sign(status('a1')), () => acks.push('first'));
    assert.equal(s.got.length, 1);
    assert.equal(s.store.keys.unsyncedPins, true);
    // answered before any batch commit (e.g. rejected by the aggregator): the wrapper syncs first
    s.got[0]!.ack!();
    assert.deepEqual(acks, ['first']);
    assert.equal(s.store.keys.unsyncedPins, false);
    // the next message of a pinned agent passes its ack through untouched
    const second = (): void => void acks.push('second');
    s.deliver('status', 'a1', sign(status('a1')), second);
    assert.equal(s.got[1]!.ack, second);
    // a refused frame (another key on a1's topic) is acknowledged by the wrapper itself
    const forger = ed25519Signer(generateSigningKey().privateKeyPem);
    s.deliver('status', 'a1', signFrame(status('a1'), forger, { embedKey: true }), () => acks.push('refused'));
    assert.equal(s.got.length, 2);
    assert.deepEqual(acks, ['first', 'refused']);
    // a pinning message whose ack comes after a batch commit: no extra sync needed, ack still runs
    s.deliver('status', 'a2', sign(status('a2')), () => acks.push('a2'));
    assert.equal(s.store.keys.unsyncedPins, true);
    s.store.commitBatch('e1', { uploads: [], agents: [], telemetry: [] });
    assert.equal(s.store.keys.unsyncedPins, false);
    s.got[2]!.ack!();
    assert.deepEqual(acks, ['first', 'refused', 'a2']);
  } finally {
    s.done();
  }
});
