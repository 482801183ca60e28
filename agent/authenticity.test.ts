import { test } from 'node:test';
import assert from 'node:assert/strict';
import { encodeRound, encodeStatus, decodeStatus, type RoundBody } from '../wire/codec.ts';
import { ed25519Signer, ed25519Verifier, generateSigningKey, publicKeyHex } from '../wire/signature.ts';
import { signFrame } from '../wire/sign-frame.ts';
import type { AggregatorTopic, AgentTopic } from '../wire/topics.ts';
import { openAgentStore } from './store.ts';
import { AgentAuthenticity, aggregatorKeyMeta } from './authenticity.ts';
import { AGENT_SIGNING_KEY_META, agentSigner, signingAgentTransport } from './signing.ts';
import type { AgentTransport } from './agent-types.ts';

const ROUND: RoundBody = { method: 'tinyproto', valueType: 'float32', deadlineMs: 1, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: [] };
const round = (r: number): Uint8Array => encodeRound({ experiment: 'e1', sender: 'aggregator', round: r }, ROUND);

class FakeTransport implements AgentTransport {
  handler: ((kind: AggregatorTopic, bytes: Uint8Array) => void) | null = null;
  published: { kind: AgentTopic; bytes: Uint8Array; retain: boolean }[] = [];
  counters = { bytesSent: 7, bytesReceived: 9 };
  started = false;
  onMessage(h: (kind: AggregatorTopic, bytes: Uint8Array) => void): void {
    this.handler = h;
  }
  onConnect(): void {}
  async publish(kind: AgentTopic, bytes: Uint8Array, retain: boolean): Promise<void> {
    this.published.push({ kind, bytes, retain });
  }
  async start(): Promise<void> {
    this.started = true;
  }
  async close(): Promise<void> {}
}

function setup(opts: { aggregatorKey?: string } = {}) {
  const store = openAgentStore(':memory:');
  const inner = new FakeTransport();
  const auth = new AgentAuthenticity({ store, experiment: 'e1', ...opts });
  const t = auth.wrap(inner);
  const got: number[] = [];
  t.onMessage((_kind, bytes) => got.push(bytes[bytes.length - 5]!));
  const deliver = (kind: AggregatorTopic, bytes: Uint8Array): void => inner.handler!(kind, bytes);
  return { store, inner, auth, t, got, deliver };
}

test('agent: TOFU pins the first signed aggregator key; later unsigned and other-key frames are dropped and counted', async () => {
  const agg = generateSigningKey();
  const forger = generateSigningKey();
  const s = setup();
  const signed = (r: number) => signFrame(round(r), ed25519Signer(agg.privateKeyPem), { embedKey: true });
  let drops = 0;
  s.auth.onDrop(() => drops++);
  // unsigned before any key: refused by default
  s.deliver('round', round(1));
  assert.equal(s.auth.dropped['E_CODEC_SIGNATURE'], 1);
  s.deliver('round', signed(1));
  assert.equal(s.auth.aggregatorKey, publicKeyHex(agg.publicKey));
  assert.equal(s.store.getMeta(aggregatorKeyMeta('e1')), publicKeyHex(agg.publicKey));
  s.deliver('round', round(100)); // unsigned
  s.deliver('round', signFrame(round(100), ed25519Signer(forger.privateKeyPem), { embedKey: true })); // other key, carried
  s.deliver('round', signFrame(round(100), ed25519Signer(forger.privateKeyPem))); // other key, not carried
  s.deliver('global', signed(2).subarray(0, 20)); // damaged: not an authenticity question, the agent itself drops it
  s.deliver('round', signFrame(round(2), ed25519Signer(agg.privateKeyPem))); // the aggregator, key not carried: fine
  assert.equal(s.got.length, 3);
  assert.equal(s.auth.dropped['E_CODEC_SIGNATURE'], 4);
  assert.equal(s.auth.dropped['E_CODEC_TRUNCATED'], undefined);
  assert.equal(drops, 4);
  // a restarted agent keeps the pin
  const again = new AgentAuthenticity({ store: s.store, experiment: 'e1' });
  assert.equal(again.aggregatorKey, publicKeyHex(agg.publicKey));
  assert.equal(again.accept('round', signFrame(round(3), ed25519Signer(forger.privateKeyPem), { embedKey: true })), false);
  // pass-through of the rest of the transport
  assert.deepEqual(s.t.counters, { bytesSent: 7, bytesReceived: 9 });
  await (s.t as FakeTransport).start();
  assert.equal(s.inner.started, true);
});

test('agent: a configured aggregator key is the only one accepted (no pinning)', () => {
  const agg = generateSigningKey();
  const other = generateSigningKey();
  const s = setup({ aggregatorKey: publicKeyHex(agg.publicKey) });
  s.deliver('round', signFrame(round(1), ed25519Signer(other.privateKeyPem), { embedKey: true }));
  assert.equal(s.got.length, 0);
  s.deliver('round', signFrame(round(1), ed25519Signer(agg.privateKeyPem)));
  assert.equal(s.got.length, 1);
  assert.equal(s.store.getMeta(aggregatorKeyMeta('e1')), null);
});

test('agent signing: one key kept in the store, every publish signed with the key embedded', async () => {
  const store = openAgentStore(':memory:');
  const signer = agentSigner(store);
  assert.ok(store.getMeta(AGENT_SIGNING_KEY_META)?.includes('PRIVATE KEY'));
  assert.deepEqual(agentSigner(store).publicKey, signer.publicKey);
  const inner = new FakeTransport();
  const t = signingAgentTransport(inner, signer);
  const status = encodeStatus({ experiment: 'e1', sender: 'a1', round: 0 }, { state: 'idle', timeMs: 1, lastRound: 0, modelFamily: 'resnet8', note: '' });
  await t.publish('status', status, true);
  const out = inner.published[0]!;
  assert.equal(out.retain, true);
  const m = decodeStatus(out.bytes, { verifier: ed25519Verifier(signer.publicKey) });
  assert.deepEqual(m.header.signerKey, signer.publicKey);
  assert.deepEqual(t.counters, inner.counters);
});
