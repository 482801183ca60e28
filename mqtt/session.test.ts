import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { TinyProtoError } from '../common/errors.ts';
import { MqttSession, type MqttConnectFn, type MqttLikeClient } from './session.ts';
import { classifyConnectError, classifySubscribeError } from './failures.ts';
import type { MqttConnectionSettings } from './options.ts';

/** What a fake broker does with one connection attempt. */
type Outcome =
  | { readonly ok: true; readonly sessionPresent?: boolean }
  | { readonly socket: string } // socket error with this code, then close
  | { readonly connack: number } // CONNACK refusal with this return/reason code, then close
  | { readonly silent: true }; // closes before CONNACK

/** An MQTT.js-like client driven by a script of outcomes, one per connection attempt (the last repeats). */
class FakeClient extends EventEmitter implements MqttLikeClient {
  connected = false;
  reconnects = 0;
  subscribeResult: () => Promise<unknown> = () => Promise.resolve([]);
  /** reason code of the next PUBACK (0x10 resolves like MQTT.js, >= 0x80 rejects) */
  pubackCode = 0;
  private nextId = 1;
  constructor(
    readonly options: Record<string, unknown>,
    private readonly next: () => Outcome,
  ) {
    super();
    this.attempt();
  }
  private attempt(): void {
    const o = this.next();
    setImmediate(() => {
      if ('ok' in o) {
        this.connected = true;
        this.emit('connect', { sessionPresent: o.sessionPresent ?? false });
      } else if ('socket' in o) {
        this.emit('error', Object.assign(new Error(`connect ${o.socket} 127.0.0.1:1`), { code: o.socket }));
        this.emit('close');
      } else if ('connack' in o) {
        this.emit('error', Object.assign(new Error('Connection refused: Not authorized'), { code: o.connack }));
        this.emit('close');
      } else {
        this.emit('close');
      }
    });
  }
  /** The broker goes away. */
  drop(): void {
    this.connected = false;
    this.emit('close');
  }
  publishAsync(_topic: string, _payload: Buffer, _opts: { qos: 1; retain: boolean }): Promise<unknown> {
    const messageId = this.nextId++;
    const rc = this.pubackCode;
    return new Promise((resolve, reject) =>
      setImmediate(() => {
        this.emit('packetreceive', { cmd: 'puback', messageId, ...(rc ? { reasonCode: rc } : {}) });
        if (rc >= 0x80) reject(Object.assign(new Error(`Publish error: ${rc}`), { code: rc }));
        else resolve({ cmd: 'publish', messageId, qos: 1 }); // MQTT.js resolves with the stored PUBLISH
      }),
    );
  }
  subscribeAsync(): Promise<unknown> {
    return this.subscribeResult();
  }
  endAsync(): Promise<void> {
    this.connected = false;
    return Promise.resolve();
  }
  reconnect(): unknown {
    this.reconnects++;
    this.attempt();
    return this;
  }
}

const settings = (over: Partial<MqttConnectionSettings> = {}): MqttConnectionSettings => ({
  url: 'mqtt://127.0.0.1:1',
  clientId: 'exp:agent-1',
  username: 'agent-1',
  password: 'pw',
  caFile: null,
  certFile: null,
  keyFile: null,
  version: 'auto',
  sessionExpirySeconds: 60,
  connectTimeoutMs: 1000,
  ...over,
});

function fakeBroker(script: Outcome[]): { connect: MqttConnectFn; clients: FakeClient[]; versions: number[] } {
  let i = 0;
  const next = (): Outcome => script[Math.min(i++, script.length - 1)]!;
  const clients: FakeClient[] = [];
  const versions: number[] = [];
  const connect: MqttConnectFn = (_url, options) => {
    versions.push(options['protocolVersion'] as number);
    const c = new FakeClient(options, next);
    clients.push(c);
    return c;
  };
  return { connect, clients, versions };
}

const fast = { reconnectMinMs: 10, reconnectMaxMs: 20, random: () => 0.5 };

test('classification: unreachable, credentials, TLS, other refusals, refused subscriptions', () => {
  const v4 = { url: 'mqtt://b:1883', protocolVersion: 4 as const, username: 'agent-1' };
  const v5 = { ...v4, protocolVersion: 5 as const };
  for (const code of ['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT']) {
    assert.equal(classifyConnectError(Object.assign(new Error('x'), { code }), v4).code, 'E_MQTT_UNREACHABLE', code);
  }
  assert.equal(classifyConnectError(new Error('connack timeout'), v4).code, 'E_MQTT_UNREACHABLE');
  for (const rc of [4, 5]) assert.equal(classifyConnectError(Object.assign(new Error('refused'), { code: rc }), v4).code, 'E_MQTT_AUTH');
  for (const rc of [0x86, 0x87, 0x8c]) assert.equal(classifyConnectError(Object.assign(new Error('refused'), { code: rc }), v5).code, 'E_MQTT_AUTH');
  const auth = classifyConnectError(Object.assign(new Error('Connection refused: Not authorized'), { code: 5 }), v4);
  assert.match(auth.message, /^broker refused the credentials: CONNACK return code 5 .* user agent-1/);
  assert.equal(auth.details?.['reasonCode'], 5);
  for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'EPROTO', 'CERT_HAS_EXPIRED']) {
    assert.equal(classifyConnectError(Object.assign(new Error('x'), { code }), v4).code, 'E_MQTT_TLS', code);
  }
  assert.equal(classifyConnectError(Object.assign(new Error('x'), { code: 2 }), v4).code, 'E_MQTT_REFUSED');
  assert.equal(classifyConnectError(Object.assign(new Error('x'), { code: 0x84 }), v5).details?.['versionRefused'], true);
  const acl = classifySubscribeError(Object.assign(new Error('Subscribe error'), { packet: { granted: [1, 0x80] } }), ['a', 'b']);
  assert.ok(acl instanceof TinyProtoError && acl.code === 'E_MQTT_ACL' && /b \(SUBACK 0x80\)/.test(acl.message), acl.message);
  assert.equal(classifySubscribeError(Object.assign(new Error('x'), { packet: { granted: [0x87] } }), ['a']).message.includes('0x87'), true);
});

test('the first connection is retried for ever with backoff, each failure reported, until the broker answers', async () => {
  const b = fakeBroker([{ socket: 'ECONNREFUSED' }, { socket: 'ENOTFOUND' }, { socket: 'ECONNREFUSED' }, { ok: true }]);
  const s = new MqttSession({ settings: settings({ version: '3.1.1' }), subscriptions: ['t'], connect: b.connect, ...fast });
  const seen: [string, number, number | null][] = [];
  s.onConnectionError((e, info) => seen.push([e.code, info.attempt, info.retryInMs]));
  await s.start();
  assert.equal(s.connected, true);
  assert.deepEqual(seen, [
    ['E_MQTT_UNREACHABLE', 1, 10],
    ['E_MQTT_UNREACHABLE', 2, 10],
    ['E_MQTT_UNREACHABLE', 3, 10],
  ]);
  assert.equal(s.lastConnectionError, null);
  await s.close();
});

test('refused credentials are reported at once as E_MQTT_AUTH, without a pointless 3.1.1 fallback; connectAttempts bounds start()', async () => {
  const b = fakeBroker([{ connack: 0x87 }]);
  const s = new MqttSession({ settings: settings(), subscriptions: [], connect: b.connect, connectAttempts: 2, ...fast });
  const codes: string[] = [];
  s.onConnectionError((e) => codes.push(e.code));
  await assert.rejects(s.start(), (e: TinyProtoError) => e.code === 'E_MQTT_AUTH' && /credentials/.test(e.message));
  assert.deepEqual(codes, ['E_MQTT_AUTH', 'E_MQTT_AUTH']);
  assert.deepEqual(b.versions, [5, 5], 'MQTT 5 only: the version was not the problem');
  // a handler registered later still learns the latest failure
  let late: string | null = null;
  s.onConnectionError((e) => (late = e.code));
  assert.equal(late, 'E_MQTT_AUTH');
});

test('a broker that refuses MQTT 5 (or closes before CONNACK) gets MQTT 3.1.1', async () => {
  for (const first of [{ connack: 0x84 }, { silent: true }] as Outcome[]) {
    const b = fakeBroker([first, { ok: true }]);
    const s = new MqttSession({ settings: settings(), subscriptions: [], connect: b.connect, ...fast });
    await s.start();
    assert.deepEqual(b.versions, [5, 4]);
    assert.equal(s.protocolVersion, 4);
    await s.close();
  }
});

test('close() ends a start() that is still retrying', async () => {
  const b = fakeBroker([{ socket: 'ECONNREFUSED' }]);
  const s = new MqttSession({ settings: settings({ version: '5' }), subscriptions: [], connect: b.connect, reconnectMinMs: 60_000, reconnectMaxMs: 60_000 });
  const started = s.start();
  await new Promise((r) => setTimeout(r, 30));
  const t0 = Date.now();
  await s.close();
  await assert.rejects(started, (e: TinyProtoError) => e.code === 'E_NOT_CONNECTED');
  assert.ok(Date.now() - t0 < 1000);
});

test('a dropped connection is retried for ever (refusals reported) and subscriptions renewed when the session is gone', async () => {
  const b = fakeBroker([{ ok: true }, { socket: 'ECONNREFUSED' }, { connack: 5 }, { ok: true, sessionPresent: false }]);
  const s = new MqttSession({ settings: settings({ version: '3.1.1' }), subscriptions: ['t'], connect: b.connect, ...fast });
  let subscribes = 0;
  await s.start();
  const c = b.clients[0]!;
  c.subscribeResult = () => {
    subscribes++;
    return Promise.resolve([]);
  };
  const codes: string[] = [];
  s.onConnectionError((e) => codes.push(e.code));
  const reconnected = new Promise<void>((r) => c.once('connect', () => setImmediate(r)));
  c.drop();
  await reconnected;
  assert.deepEqual(codes, ['E_MQTT_UNREACHABLE', 'E_MQTT_AUTH']);
  assert.equal(c.reconnects, 3);
  assert.equal(s.counters.reconnects, 1);
  assert.equal(subscribes, 1, 'resubscribed: the broker kept no session');
  await s.close();
});

test('publish: PUBACK 0x10 and >= 0x80 are not delivered (E_NOT_DELIVERED with the reason code); 0x87 also reports E_MQTT_ACL', async () => {
  const b = fakeBroker([{ ok: true }]);
  const s = new MqttSession({ settings: settings({ version: '5' }), subscriptions: [], connect: b.connect, ...fast });
  await s.start();
  const c = b.clients[0]!;
  const acl: string[] = [];
  s.onConnectionError((e) => acl.push(e.code));
  await s.publish('tinyproto/e/upload/a', new Uint8Array([1]), false);
  for (const rc of [0x10, 0x80, 0x87, 0x97]) {
    c.pubackCode = rc;
    await assert.rejects(
      s.publish('tinyproto/e/upload/a', new Uint8Array([1]), false),
      (e: TinyProtoError) => e.code === 'E_NOT_DELIVERED' && e.details?.['reasonCode'] === rc && e.details?.['topic'] === 'tinyproto/e/upload/a',
    );
  }
  assert.deepEqual(acl, ['E_MQTT_ACL']);
  c.pubackCode = 0x10;
  await s.publish('tinyproto/e/round', new Uint8Array([1]), true); // retained: kept for later subscribers
  c.pubackCode = 0;
  await s.publish('tinyproto/e/upload/a', new Uint8Array([1]), false);
  await s.close();
});

test('a refused subscription is E_MQTT_ACL and the connection is retried', async () => {
  const b = fakeBroker([{ ok: true }]);
  let refusals = 1;
  const connect: MqttConnectFn = (url, options) => {
    const c = b.connect(url, options) as FakeClient;
    c.subscribeResult = () =>
      refusals-- > 0 ? Promise.reject(Object.assign(new Error('Subscribe error: Not authorized'), { packet: { granted: [0x87] } })) : Promise.resolve([]);
    return c;
  };
  const s = new MqttSession({ settings: settings({ version: '5' }), subscriptions: ['tinyproto/e/round'], connect, ...fast });
  const codes: string[] = [];
  s.onConnectionError((e) => codes.push(e.code));
  await s.start();
  assert.deepEqual(codes, ['E_MQTT_ACL']);
  assert.equal(b.clients.length, 2);
  await s.close();
});
