import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

test('aggregator keys: a first-contact pin has no fsync of its own; a durable batch commit or syncPins covers it', () => {
  const s = setup();
  try {
    const k = ed25519Signer(generateSigningKey().privateKeyPem);
    assert.equal(s.store.keys.unsyncedPins, false);
    s.store.keys.pinAgentKey('e1', 'a1', publicKeyHex(k.publicKey), 'pinned', 1);
    assert.equal(s.store.keys.unsyncedPins, true);
    s.store.commitBatch('e1', { uploads: [], agents: [], telemetry: [] });
    assert.equal(s.store.keys.unsyncedPins, false, 'the batch commit (synchronous=FULL) syncs the WAL holding the pin');
    // pinning a key already pinned writes nothing
    s.store.keys.pinAgentKey('e1', 'a1', publicKeyHex(k.publicKey), 'pinned', 2);
    assert.equal(s.store.keys.unsyncedPins, false);
    s.store.keys.pinAgentKey('e1', 'a2', publicKeyHex(k.publicKey), 'pinned', 3);
    assert.equal(s.store.keys.unsyncedPins, true);
    s.store.keys.syncPins();
    assert.equal(s.store.keys.unsyncedPins, false);
    // configured keys stay durable on their own
    s.store.keys.pinAgentKey('e1', 'a2', publicKeyHex(k.publicKey), 'configured', 4);
    assert.equal(s.store.keys.unsyncedPins, false);
    // what was pinned is in the file for another connection
    const other = openAggregatorStore(s.path);
    assert.equal(other.keys.agentKey('e1', 'a1')?.publicKey, publicKeyHex(k.publicKey));
    other.close();
  } finally {
    s.done();
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
