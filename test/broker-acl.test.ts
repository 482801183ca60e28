/**
 * Integration tests for broker-config/ against a real mosquitto 2.0 broker:
 *  - the fleet config (TLS with the generated CA, password auth, ACL),
 *  - the dev config (anonymous loopback, persistence),
 *  - the config renderers (shell and TS agree).
 * Skipped with a reason when mosquitto (or mosquitto_passwd/openssl for the fleet) is absent.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import {
  fleetToolsAvailable,
  mosquittoAvailable,
  renderFleetConfig,
  RENDER_SCRIPT,
  CREDENTIALS_SCRIPT,
  startMosquitto,
  type RunningMosquitto,
} from '../mqtt/mosquitto.ts';
import { connectClient, subscribe, type ConnectFailure, type TestClient } from './helpers/mqtt.ts';

const EXP = 'exp-acl';
const T = 5000; // per-operation bound

const NOT_AUTHORIZED_V5 = 0x87;

const skipFleet = fleetToolsAvailable() ? false : 'mosquitto, mosquitto_passwd or openssl not installed';
const skipDev = mosquittoAvailable() ? false : 'mosquitto not installed';

function execFileAsync(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: 30_000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
      resolve({ code, stdout, stderr });
    });
  });
}

/** PUBACK reason code (MQTT 5); 0 when absent (success / MQTT 3.1.1). */
function reasonCodeOf(packet: unknown): number {
  return (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0;
}

async function expectRefused(url: string, opts: IClientOptions): Promise<ConnectFailure> {
  let client: TestClient | undefined;
  try {
    client = await connectClient(url, opts, T);
  } catch (err) {
    return err as ConnectFailure;
  } finally {
    await client?.end();
  }
  assert.fail(`connection to ${url} as ${String(opts.username)} unexpectedly accepted`);
}

describe('mosquitto fleet config: TLS + password + ACL', { skip: skipFleet, timeout: 60_000 }, () => {
  let broker: RunningMosquitto;
  let ca: Buffer;
  const open: TestClient[] = [];

  const tls = (): IClientOptions => ({ ca, rejectUnauthorized: true, servername: 'localhost' });

  /** Connect over TLS as `user` (default password from credentials.json). */
  async function as(user: string, extra: IClientOptions = {}): Promise<TestClient> {
    const c = await connectClient(
      broker.tlsUrl!,
      { ...tls(), username: user, password: broker.credentials![user]!, clientId: user, ...extra },
      T,
    );
    open.push(c);
    return c;
  }

  before(async () => {
    broker = await startMosquitto({ config: 'fleet', agents: ['agent-1', 'agent-2'] });
    ca = await readFile(broker.caFile!);
  });

  after(async () => {
    await Promise.all(open.splice(0).map((c) => c.end()));
    await broker?.stop();
  });

  it('generated credentials: aggregator + one password per agent, credentials.json mode 600', async () => {
    assert.deepEqual(Object.keys(broker.credentials!).sort(), ['agent-1', 'agent-2', 'aggregator']);
    for (const pw of Object.values(broker.credentials!)) assert.match(pw, /^[0-9a-f]{32}$/);
    const st = await stat(join(broker.dir, 'credentials.json'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal((await stat(join(broker.dir, 'ca.key'))).mode & 0o777, 0o600);
  });

  it("an agent's own upload/status/telemetry reach the aggregator (MQTT 3.1.1 and 5)", async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-own' });
    await subscribe(agg, ['tinyproto/+/upload/+', 'tinyproto/+/status/+', 'tinyproto/+/telemetry/+']);
    const a311 = await as('agent-1', { protocolVersion: 4 });
    for (const kind of ['upload', 'status', 'telemetry']) {
      const topic = `tinyproto/${EXP}/${kind}/agent-1`;
      await a311.client.publishAsync(topic, `v4-${kind}`, { qos: 1 });
      const m = await agg.waitFor((x) => x.topic === topic && x.payload.toString() === `v4-${kind}`, T, topic);
      assert.equal(m.qos, 1);
    }
    await a311.end();
    const a5 = await as('agent-1', { protocolVersion: 5 });
    const topic = `tinyproto/${EXP}/upload/agent-1`;
    const puback = await a5.client.publishAsync(topic, 'v5-upload', { qos: 1 });
    assert.equal(reasonCodeOf(puback), 0);
    await agg.waitFor((x) => x.topic === topic && x.payload.toString() === 'v5-upload', T, 'v5 upload');
  });

  it("MQTT 5: publishing another agent's upload/status or masks/round/global gets PUBACK 0x87", async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-deny5' });
    await subscribe(agg, ['tinyproto/+/upload/+', 'tinyproto/+/status/+', `tinyproto/${EXP}/+`]);
    const a1 = await as('agent-1', { protocolVersion: 5 });
    const denied = [
      `tinyproto/${EXP}/upload/agent-2`,
      `tinyproto/${EXP}/status/agent-2`,
      `tinyproto/${EXP}/telemetry/agent-2`,
      `tinyproto/${EXP}/global`,
      `tinyproto/${EXP}/masks`,
      `tinyproto/${EXP}/round`,
      `tinyproto/${EXP}/upload/agent-1/extra`,
      'other/topic',
    ];
    for (const topic of denied) {
      await assert.rejects(
        a1.client.publishAsync(topic, 'forged', { qos: 1 }),
        (err: ConnectFailure) => {
          assert.equal(err.code, NOT_AUTHORIZED_V5, `${topic}: ${err.message}`);
          return true;
        },
        topic,
      );
    }
    // Same connection is still usable, and per-client ordering proves nothing forged was
    // delivered before this sentinel.
    const sentinel = `tinyproto/${EXP}/upload/agent-1`;
    await a1.client.publishAsync(sentinel, 'sentinel-5', { qos: 1 });
    await agg.waitFor((m) => m.topic === sentinel && m.payload.toString() === 'sentinel-5', T, 'sentinel');
    assert.deepEqual(
      agg.messages.filter((m) => m.payload.toString() === 'forged').map((m) => m.topic),
      [],
    );
  });

  it('MQTT 3.1.1: forged publishes are acknowledged but silently dropped', async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-deny4' });
    await subscribe(agg, ['tinyproto/+/upload/+', `tinyproto/${EXP}/global`]);
    const a1 = await as('agent-1', { protocolVersion: 4 });
    await a1.client.publishAsync(`tinyproto/${EXP}/upload/agent-2`, 'forged-4', { qos: 1 });
    await a1.client.publishAsync(`tinyproto/${EXP}/global`, 'forged-4', { qos: 1, retain: true });
    const sentinel = `tinyproto/${EXP}/upload/agent-1`;
    await a1.client.publishAsync(sentinel, 'sentinel-4', { qos: 1 });
    await agg.waitFor((m) => m.topic === sentinel && m.payload.toString() === 'sentinel-4', T, 'sentinel');
    assert.deepEqual(
      agg.messages.filter((m) => m.payload.toString() === 'forged-4').map((m) => m.topic),
      [],
    );
  });

  it('the aggregator publishes retained masks/round/global; agents receive them, even when subscribing later', async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-pub', protocolVersion: 5 });
    for (const kind of ['masks', 'round', 'global']) {
      const puback = await agg.client.publishAsync(`tinyproto/${EXP}/${kind}`, `${kind}-r1`, { qos: 1, retain: true });
      assert.equal(reasonCodeOf(puback), 0);
    }
    const a1 = await as('agent-1');
    await subscribe(a1, [`tinyproto/${EXP}/masks`, `tinyproto/${EXP}/round`, `tinyproto/${EXP}/global`]);
    for (const kind of ['masks', 'round', 'global']) {
      const m = await a1.waitFor((x) => x.topic === `tinyproto/${EXP}/${kind}`, T, `retained ${kind}`);
      assert.equal(m.payload.toString(), `${kind}-r1`);
      assert.equal(m.retain, true);
    }
    // Live (non-retained delivery) too.
    await agg.client.publishAsync(`tinyproto/${EXP}/global`, 'global-r2', { qos: 1, retain: true });
    const live = await a1.waitFor((x) => x.payload.toString() === 'global-r2', T, 'live global');
    assert.equal(live.retain, false);
  });

  it("an agent cannot read another agent's uploads (no read grant => never delivered)", async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-read' });
    await subscribe(agg, ['tinyproto/+/upload/+']);
    const spy = await as('agent-2', { protocolVersion: 5 });
    // mosquitto 2.0 with acl_file grants every SUBACK (even '#'): read access is checked per
    // delivered message, not per subscription filter.
    const granted = await spy.client.subscribeAsync(['tinyproto/+/upload/+', '#', `tinyproto/${EXP}/global`], { qos: 1 });
    assert.deepEqual(
      granted.map((g) => g.qos),
      [1, 1, 1],
    );
    const a1 = await as('agent-1');
    await a1.client.publishAsync(`tinyproto/${EXP}/upload/agent-1`, 'secret', { qos: 1 });
    await agg.waitFor((m) => m.payload.toString() === 'secret', T, 'upload at aggregator');
    // mosquitto is single-threaded: the upload was routed to every subscriber before the
    // aggregator received it, so a later global arriving at the spy proves it got nothing.
    await agg.client.publishAsync(`tinyproto/${EXP}/global`, 'after-secret', { qos: 1, retain: true });
    await spy.waitFor((m) => m.payload.toString() === 'after-secret', T, 'global at agent-2');
    assert.deepEqual(
      // Via '#' it may see the retained masks/round/global (readable), nothing else.
      spy.messages.filter((m) => !/^tinyproto\/[^/]+\/(masks|round|global)$/.test(m.topic)).map((m) => m.topic),
      [],
    );
  });

  it('wrong password, unknown user, impersonation and anonymous clients are refused at CONNACK', async () => {
    const creds = broker.credentials!;
    // MQTT 3.1.1: mosquitto answers CONNACK 5 (not authorized) for bad credentials too.
    const wrong = await expectRefused(broker.tlsUrl!, { ...tls(), username: 'agent-1', password: 'nope', clientId: 'agent-1' });
    assert.equal(wrong.code, 5, wrong.message);
    const unknown = await expectRefused(broker.tlsUrl!, { ...tls(), username: 'agent-9', password: 'x', clientId: 'agent-9' });
    assert.equal(unknown.code, 5, unknown.message);
    const impostor = await expectRefused(broker.tlsUrl!, {
      ...tls(),
      username: 'agent-2',
      password: creds['agent-1']!,
      clientId: 'agent-2',
    });
    assert.equal(impostor.code, 5, impostor.message);
    const anon = await expectRefused(broker.tlsUrl!, { ...tls(), clientId: 'anon' });
    assert.equal(anon.code, 5, anon.message);
    // MQTT 5 reason codes.
    const wrong5 = await expectRefused(broker.tlsUrl!, {
      ...tls(),
      protocolVersion: 5,
      username: 'agent-1',
      password: 'nope',
      clientId: 'agent-1',
    });
    // mosquitto 2.0.11 answers 0x87 (Not authorized), not 0x86 (Bad user name or password).
    assert.equal(wrong5.code, NOT_AUTHORIZED_V5, wrong5.message);
    const anon5 = await expectRefused(broker.tlsUrl!, { ...tls(), protocolVersion: 5, clientId: 'anon5' });
    assert.equal(anon5.code, NOT_AUTHORIZED_V5, anon5.message);
  });

  it('the loopback plain listener still requires a password and enforces the ACL', async () => {
    const anon = await expectRefused(broker.url, { clientId: 'anon-plain' });
    assert.equal(anon.code, 5, anon.message);
    const a1 = await connectClient(
      broker.url,
      { username: 'agent-1', password: broker.credentials!['agent-1']!, clientId: 'agent-1-plain', protocolVersion: 5 },
      T,
    );
    open.push(a1);
    await assert.rejects(a1.client.publishAsync(`tinyproto/${EXP}/global`, 'x', { qos: 1 }), (err: ConnectFailure) => {
      assert.equal(err.code, NOT_AUTHORIZED_V5);
      return true;
    });
  });

  it('TLS: a client that does not trust the fleet CA cannot connect', async () => {
    const err = await expectRefused(broker.tlsUrl!, {
      rejectUnauthorized: true,
      servername: 'localhost',
      username: 'agent-1',
      password: broker.credentials!['agent-1']!,
      clientId: 'agent-1-noca',
    });
    assert.equal(err.code, 'SELF_SIGNED_CERT_IN_CHAIN', err.message);
  });

  it('max_packet_size: a 262144-byte payload is accepted, a larger packet disconnects the client', async () => {
    const agg = await as('aggregator', { clientId: 'aggregator-size' });
    await subscribe(agg, ['tinyproto/+/upload/+']);
    const topic = `tinyproto/${EXP}/upload/agent-1`;
    const a1 = await as('agent-1', { protocolVersion: 4 });
    const big = Buffer.alloc(262_144, 7);
    await a1.client.publishAsync(topic, big, { qos: 1 });
    const m = await agg.waitFor((x) => x.topic === topic && x.payload.length === 262_144, T, 'max payload');
    assert.equal(m.payload.length, 262_144);
    const closed = new Promise<void>((resolve) => a1.client.once('close', () => resolve()));
    a1.client.publish(topic, Buffer.alloc(266_240, 1), { qos: 0 });
    await Promise.race([
      closed,
      new Promise((_, reject) => setTimeout(() => reject(new Error('oversized packet did not disconnect')), T)),
    ]);
    assert.equal(
      agg.messages.some((x) => x.payload.length === 266_240),
      false,
    );
    assert.match(broker.logs(), /Client agent-1 disconnected due to oversize packet/);
  });
});

describe('mosquitto dev config', { skip: skipDev, timeout: 30_000 }, () => {
  it('starts on loopback, accepts anonymous clients and persists retained messages across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tinyproto-dev-'));
    let broker: RunningMosquitto | undefined;
    const clients: TestClient[] = [];
    try {
      broker = await startMosquitto({ config: 'dev', dir });
      assert.match(broker.url, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
      const pub = await connectClient(broker.url, { clientId: 'dev-pub' }, T);
      clients.push(pub);
      const sub = await connectClient(broker.url, { clientId: 'dev-sub' }, T);
      clients.push(sub);
      await subscribe(sub, ['tinyproto/+/global']);
      await pub.client.publishAsync('tinyproto/dev/global', 'g1', { qos: 1, retain: true });
      const got = await sub.waitFor((m) => m.topic === 'tinyproto/dev/global', T, 'dev global');
      assert.equal(got.payload.toString(), 'g1');
      await Promise.all(clients.splice(0).map((c) => c.end()));
      await broker.stop();
      assert.ok((await stat(join(dir, 'data', 'mosquitto.db'))).isFile(), 'persistence file written on shutdown');

      broker = await startMosquitto({ config: 'dev', dir });
      const late = await connectClient(broker.url, { clientId: 'dev-late' }, T);
      clients.push(late);
      await subscribe(late, ['tinyproto/dev/global']);
      const retained = await late.waitFor((m) => m.topic === 'tinyproto/dev/global', T, 'retained after restart');
      assert.equal(retained.payload.toString(), 'g1');
      assert.equal(retained.retain, true);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
      await broker?.stop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('broker-config scripts', { skip: skipFleet, timeout: 30_000 }, () => {
  it('render-fleet-config.sh and renderFleetConfig() produce identical configs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tinyproto-render-'));
    try {
      const sh = await execFileAsync(RENDER_SCRIPT, [dir, '--stdout', '--tls-port', '18883', '--plain-port', '11883', '--user', 'tp']);
      assert.equal(sh.code, 0, sh.stderr);
      assert.equal(sh.stdout, renderFleetConfig({ dir, tlsPort: 18883, plainPort: 11883, user: 'tp' }));
      const shDefault = await execFileAsync(RENDER_SCRIPT, [dir, '--stdout']);
      const tsDefault = renderFleetConfig({ dir });
      assert.equal(shDefault.stdout, tsDefault);
      assert.match(tsDefault, /^listener 8883 0\.0\.0\.0$/m);
      assert.match(tsDefault, /^#listener 1883 127\.0\.0\.1$/m);
      assert.match(tsDefault, new RegExp(`^password_file ${dir}/passwd$`, 'm'));
      assert.doesNotMatch(tsDefault, /^[^#].*@[A-Z_]+@/m);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('make-fleet-credentials.sh refuses to overwrite a CA without --force and rejects bad agent ids', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tinyproto-creds-'));
    try {
      const first = await execFileAsync(CREDENTIALS_SCRIPT, [dir, 'a1']);
      assert.equal(first.code, 0, first.stderr);
      const caBefore = await readFile(join(dir, 'ca.crt'), 'utf8');
      const again = await execFileAsync(CREDENTIALS_SCRIPT, [dir, 'a1']);
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /--force/);
      assert.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), caBefore);
      const bad = await execFileAsync(CREDENTIALS_SCRIPT, ['--force', dir, 'a/b']);
      assert.notEqual(bad.code, 0);
      assert.match(bad.stderr, /invalid agent id/);
      const forced = await execFileAsync(CREDENTIALS_SCRIPT, ['--force', dir, 'a1', 'a2']);
      assert.equal(forced.code, 0, forced.stderr);
      assert.notEqual(await readFile(join(dir, 'ca.crt'), 'utf8'), caBefore);
      const creds = JSON.parse(await readFile(join(dir, 'credentials.json'), 'utf8')) as Record<string, string>;
      assert.deepEqual(Object.keys(creds), ['aggregator', 'a1', 'a2']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
