import { test } from 'node:test';
import assert from 'node:assert/strict';
import { memoryLogger } from '../common/logger.ts';
import { encodeReceipt, encodeStatus, uploadPayloadCrc } from '../wire/codec.ts';
import type { ReceiptOutcome } from '../wire/codec-types.ts';
import { openAgentStore } from './store.ts';
import { Delivery, type Delivered, type Uploaded } from './delivery.ts';
import type { AgentTransport } from './agent-types.ts';

const EXP = 'e1';
const upload = (round: number): Uint8Array => encodeStatus({ experiment: EXP, sender: 'a1', round }, { state: 'idle', timeMs: round, lastRound: round, modelFamily: '', note: `upload ${round}` });
const crcOf = (b: Uint8Array): number => uploadPayloadCrc(b);
const receipt = (round: number, bytes: Uint8Array, outcome: ReceiptOutcome, code = '', agent = 'a1'): Uint8Array =>
  encodeReceipt({ experiment: EXP, sender: 'aggregator', round }, { agent, outcome, uploadCrc: crcOf(bytes), code });

function setup(opts: { fail?: boolean; resendAfterMs?: number } = {}) {
  const store = openAgentStore(':memory:');
  const published: number[] = [];
  let clock = 1_000;
  let fail = opts.fail ?? false;
  const transport: AgentTransport = {
    onMessage: () => undefined,
    onConnect: () => undefined,
    publish: async (_kind, bytes) => {
      if (fail) throw new Error('no PUBACK');
      published.push(crcOf(bytes));
    },
    close: async () => undefined,
  };
  const uploaded: Uploaded[] = [];
  const delivered: Delivered[] = [];
  const logger = memoryLogger();
  const d = new Delivery({
    experiment: EXP,
    agent: 'a1',
    store,
    transport,
    logger,
    onUploaded: (u) => uploaded.push(u),
    onDelivered: (u) => delivered.push(u),
    resendAfterMs: opts.resendAfterMs ?? 60_000,
    now: () => clock,
    random: () => 0.5,
  });
  d.schedule = () => undefined; // timer-driven resends are driven by hand below
  return { store, d, published, uploaded, delivered, logger, tick: (ms: number) => (clock += ms), setFail: (f: boolean) => (fail = f) };
}

test('an upload acknowledged by the broker stays in the outbox until the aggregator\'s receipt', async () => {
  const t = setup();
  const b1 = upload(1);
  t.store.enqueueUpload(EXP, 1, b1);
  t.d.connected();
  await t.d.flushOutbox();
  assert.equal(t.published.length, 1);
  assert.deepEqual(t.uploaded.map((u) => u.round), [1]);
  assert.equal(t.store.uploadState(EXP, 1), 'pending');
  // a receipt for another agent is refused; for another upload of the round it is ignored
  assert.throws(() => t.d.onReceipt(receipt(1, b1, 'accepted', '', 'a2')), { code: 'E_SENDER' });
  t.d.onReceipt(receipt(1, upload(7), 'accepted'));
  assert.equal(t.store.uploadState(EXP, 1), 'pending');
  t.d.onReceipt(receipt(1, b1, 'accepted'));
  assert.equal(t.store.uploadState(EXP, 1), 'acked');
  assert.deepEqual(t.delivered.map((u) => [u.round, u.outcome, u.attempts]), [[1, 'accepted', 1]]);
  await t.d.flushOutbox();
  assert.equal(t.published.length, 1, 'nothing left to send');
  t.d.close();
});

test('a rejected upload is settled with its code and never resent', async () => {
  const t = setup();
  const b = upload(2);
  t.store.enqueueUpload(EXP, 2, b);
  t.d.connected();
  await t.d.flushOutbox();
  t.d.onReceipt(receipt(2, b, 'rejected', 'E_ROUND'));
  assert.equal(t.store.uploadState(EXP, 2), 'rejected');
  assert.deepEqual(t.store.pendingUploads(EXP), []);
  assert.ok(t.logger.entries.some((e) => e.msg.includes('rejected') && e.fields?.['code'] === 'E_ROUND'));
  t.d.close();
});

test('resends: after a lost connection, on a closed round, and on the backoff timer; not twice on one connection', async () => {
  const t = setup({ resendAfterMs: 1_000 });
  t.store.enqueueUpload(EXP, 1, upload(1));
  t.d.connected();
  await t.d.flushOutbox();
  await t.d.flushOutbox();
  assert.equal(t.published.length, 1, 'acknowledged on this connection: not due yet');
  // the broker went away (say it restarted without its state): a new connection resends
  t.d.disconnected();
  t.d.connected();
  await t.d.flushOutbox();
  assert.equal(t.published.length, 2);
  // the backoff doubles: due 1 s after the first send, 2 s after the second
  t.tick(1_500);
  await t.d.flushOutbox();
  assert.equal(t.published.length, 2);
  t.tick(600);
  await t.d.flushOutbox();
  assert.equal(t.published.length, 3);
  // the round closed without a receipt: due at once
  await t.d.flushOutbox(1);
  assert.equal(t.published.length, 4);
  assert.deepEqual(t.uploaded.map((u) => u.round), [1], "'uploaded' once per upload");
  t.d.close();
});

test('acknowledged while reconnecting (MQTT.js resends what was in flight): not resent at the connection', async () => {
  const t = setup();
  t.store.enqueueUpload(EXP, 1, upload(1));
  t.d.connected();
  t.d.disconnected();
  await t.d.flushOutbox(); // its PUBACK arrives on the new connection, before the connect handler
  t.d.connected();
  await t.d.flushOutbox();
  assert.equal(t.published.length, 1);
  t.d.close();
});

test('a broker that does not acknowledge keeps the upload pending and stops at the first failure', async () => {
  const t = setup({ fail: true });
  t.store.enqueueUpload(EXP, 1, upload(1));
  t.store.enqueueUpload(EXP, 2, upload(2));
  t.d.connected();
  await t.d.flushOutbox();
  assert.equal(t.store.pendingUploads(EXP).length, 2);
  assert.deepEqual(t.uploaded, []);
  t.setFail(false);
  await t.d.flushOutbox();
  assert.deepEqual(t.published, [crcOf(upload(1)), crcOf(upload(2))], 'both sent, oldest first');
  t.d.close();
});
