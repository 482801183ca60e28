import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRound, encodeRound, encodeStatus, encodeUpload, type RoundBody } from '../wire/codec.ts';
import { ed25519Signer, ed25519Verifier, generateSigningKey, publicKeyHex } from '../wire/signature.ts';
import { signFrame } from '../wire/sign-frame.ts';
import type { AgentTopic, AggregatorTopic } from '../wire/topics.ts';
import { openAggregatorStore } from './store.ts';
import { AgentAuthentication, readAgentKeysFile } from './authenticity.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from './signing.ts';
import type { AggregatorTransport } from './aggregator-types.ts';

class FakeTransport implements AggregatorTransport {
  handler: ((kind: AgentTopic, agent: string, bytes: Uint8Array) => void) | null = null;
  published: { kind: string; bytes: Uint8Array; agent?: string }[] = [];
  async publishRetained(kind: AggregatorTopic, bytes: Uint8Array): Promise<void> {
    this.published.push({ kind, bytes });
  }
  /** What the receipt publisher of the real transport may look like. */
  async publishReceipt(agent: string, bytes: Uint8Array): Promise<void> {
    this.published.push({ kind: 'receipt', agent, bytes });
  }
  onAgentMessage(h: (kind: AgentTopic, agent: string, bytes: Uint8Array) => void): void {
    this.handler = h;
  }
  async close(): Promise<void> {}
}

const status = (agent: string, round = 0): Uint8Array =>
  encodeStatus({ experiment: 'e1', sender: agent, round }, { state: 'idle', timeMs: 1, lastRound: round, modelFamily: 'resnet8', note: '' });
const upload = (agent: string, round: number): Uint8Array =>
  encodeUpload({ experiment: 'e1', sender: agent, round }, { K: 2, d: 4, s: 4, layout: 'dense', valueType: 'float32', prototypes: [{ classId: 0, values: new Float32Array(4).fill(1) }] });

function setup(keys?: Record<string, string>) {
  const store = openAggregatorStore(':memory:');
  store.createExperiment('e1', { x: 1 }, null);
  const auth = new AgentAuthentication({ store, experiment: 'e1', agents: ['a1', 'a2'], keys: keys ?? null, now: () => 42 });
  const inner = new FakeTransport();
  const got: string[] = [];
  auth.wrap(inner).onAgentMessage((kind, agent) => got.push(`${kind}/${agent}`));
  return { store, auth, got, deliver: (kind: AgentTopic, agent: string, bytes: Uint8Array) => inner.handler!(kind, agent, bytes) };
}

test('aggregator: each agent key is pinned on its first signed message; impersonation and unsigned frames are rejections', () => {
  const k1 = ed25519Signer(generateSigningKey().privateKeyPem);
  const k2 = ed25519Signer(generateSigningKey().privateKeyPem);
  const forger = ed25519Signer(generateSigningKey().privateKeyPem);
  const s = setup();
  const sign = (b: Uint8Array, k = k1) => signFrame(b, k, { embedKey: true });
  s.deliver('status', 'a1', sign(status('a1')));
  s.deliver('status', 'a2', sign(status('a2'), k2));
  assert.equal(s.auth.agentKey('a1'), publicKeyHex(k1.publicKey));
  assert.equal(s.store.keys.agentKey('e1', 'a2')?.source, 'pinned');
  s.deliver('upload', 'a1', sign(upload('a1', 1), forger)); // a forger uploading first... too late: a1 is pinned
  s.deliver('upload', 'a1', upload('a1', 1)); // unsigned
  s.deliver('upload', 'a2', sign(upload('a2', 1))); // signed by a1's key on a2's topic
  s.deliver('upload', 'a1', sign(upload('a1', 1)));
  s.deliver('upload', 'x9', upload('x9', 1)); // not an agent of the experiment: passed on for E_UNKNOWN_AGENT
  assert.deepEqual(s.got, ['status/a1', 'status/a2', 'upload/a1', 'upload/x9']);
  assert.deepEqual(s.store.rejectionCounts('e1'), { E_CODEC_SIGNATURE: 3 });
  const r = s.store.rejections('e1', 10);
  assert.ok(r.every((x) => x.round === 1 && x.code === 'E_CODEC_SIGNATURE'));
  assert.equal(s.store.keys.agentKey('e1', 'x9'), null);
  // a restarted aggregator keeps the pins
  const again = new AgentAuthentication({ store: s.store, experiment: 'e1', agents: ['a1', 'a2'] });
  assert.equal(again.accept('upload', 'a1', sign(upload('a1', 2), forger)), false);
  assert.equal(again.accept('upload', 'a1', sign(upload('a1', 2))), true);
});

test('aggregator: configured keys (keys file) are the only ones accepted for their agents', () => {
  const k1 = ed25519Signer(generateSigningKey().privateKeyPem);
  const forger = ed25519Signer(generateSigningKey().privateKeyPem);
  const dir = mkdtempSync(join(tmpdir(), 'tp-keys-'));
  const file = join(dir, 'keys.json');
  writeFileSync(file, JSON.stringify({ a1: publicKeyHex(k1.publicKey) }));
  const s = setup(readAgentKeysFile(file));
  // the first message on a1's topic comes from a forger: refused, not pinned
  s.deliver('upload', 'a1', signFrame(upload('a1', 1), forger, { embedKey: true }));
  s.deliver('upload', 'a1', signFrame(upload('a1', 1), k1));
  assert.deepEqual(s.got, ['upload/a1']);
  assert.equal(s.store.keys.agentKey('e1', 'a1')?.source, 'configured');
  writeFileSync(file, '{"a1": 3}');
  assert.throws(() => readAgentKeysFile(file), /the key of "a1" must be a string/);
});

test('aggregator signing: key generated once and kept; every publish* frame signed (retained and receipts)', async () => {
  const store = openAggregatorStore(':memory:');
  const k = aggregatorSigningKey(store.keys);
  assert.equal(k.source, 'generated');
  const again = aggregatorSigningKey(store.keys);
  assert.equal(again.source, 'store');
  assert.equal(again.publicKey, k.publicKey);
  const inner = new FakeTransport();
  const t = signingAggregatorTransport(inner, k.signer);
  const ROUND: RoundBody = { method: 'tinyproto', valueType: 'float32', deadlineMs: 1, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: [] };
  const bytes = encodeRound({ experiment: 'e1', sender: 'aggregator', round: 1 }, ROUND);
  await t.publishRetained('round', bytes);
  await t.publishReceipt('a1', bytes);
  const v = ed25519Verifier(k.publicKey);
  for (const p of inner.published) assert.deepEqual(decodeRound(p.bytes, { verifier: v }).body, ROUND);
  assert.equal(inner.published[1]!.agent, 'a1');
});
