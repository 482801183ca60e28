/**
 * Liveness and connection errors of MqttSession against a real mosquitto 2.0 (loopback only;
 * every broker and child process here is started by this file and ended by its PID):
 *  - a wrong password is reported as E_MQTT_AUTH within seconds, the process stays alive and
 *    retrying, and connects once the password is fixed on the broker;
 *  - an idle session survives its broker being killed and restarted later: the process does
 *    not exit, reconnects and subscribes again (the restarted broker kept no session);
 *  - under the fleet config, another agent's credentials cannot take over an agent's session;
 *  - PUBACK 0x10 (no subscribers) and 0x87 (ACL) are E_NOT_DELIVERED; an untrusted broker
 *    certificate is E_MQTT_TLS.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createConnection } from 'node:net';
import mqtt from 'mqtt';
import { fleetToolsAvailable, mosquittoAvailable, mosquittoBin, mosquittoPasswdBin, startMosquitto, type RunningMosquitto } from '../mqtt/mosquitto.ts';
import { MqttSession, type MqttConnectFn } from '../mqtt/session.ts';
import { agentClientId, type MqttConnectionSettings } from '../mqtt/options.ts';
import type { TinyProtoError } from '../common/errors.ts';
import { connectClient, sleep, withTimeout } from './helpers/mqtt.ts';

const CHILD = fileURLToPath(new URL('./fixtures/session-child.ts', import.meta.url));
const connect = mqtt.connect as unknown as MqttConnectFn;

interface ChildEvent {
  event: string;
  code?: string;
  reconnects?: number;
  topic?: string;
  payload?: string;
}

/** A session-child process and the events it printed. */
function sessionChild(cfg: Record<string, unknown>): { proc: ChildProcess; events: ChildEvent[]; waitFor(pred: (e: ChildEvent) => boolean, ms: number, what: string): Promise<ChildEvent>; stop(): Promise<number | null> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', CHILD], { env: { ...process.env, SESSION_CHILD: JSON.stringify(cfg) }, stdio: ['ignore', 'pipe', 'pipe'] });
  const events: ChildEvent[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as ChildEvent);
    } catch {
      return;
    }
    for (const w of [...waiters]) w();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return {
    proc,
    events,
    waitFor: (pred, ms, what) =>
      withTimeout(
        new Promise<ChildEvent>((resolve) => {
          const check = (): void => {
            const e = events.find(pred);
            if (e) {
              waiters.delete(check);
              resolve(e);
            }
          };
          waiters.add(check);
          check();
        }),
        ms,
        `${what}; events: ${JSON.stringify(events)}`,
      ),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      const kill = setTimeout(() => proc.kill('SIGKILL'), 5000);
      const code = await exited;
      clearTimeout(kill);
      return code;
    },
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((r) => {
    const s = createConnection({ host: '127.0.0.1', port });
    s.once('connect', () => (s.destroy(), r(true)));
    s.once('error', () => r(false));
  });
}

/** Start mosquitto again on the same config (same port); returns the process to end by PID. */
async function restartBroker(b: RunningMosquitto): Promise<ChildProcess> {
  const proc = spawn(mosquittoBin()!, ['-c', b.configFile], { cwd: b.dir, stdio: 'ignore' });
  const end = Date.now() + 5000;
  while (!(await accepts(b.port))) {
    if (Date.now() > end) throw new Error('restarted mosquitto does not accept connections');
    await sleep(50);
  }
  return proc;
}

function endProcess(p: ChildProcess | null): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    p.once('exit', () => r());
    process.kill(p.pid!, 'SIGTERM');
  });
}

const settings = (over: Partial<MqttConnectionSettings>): MqttConnectionSettings => ({
  url: '',
  clientId: 'x',
  username: null,
  password: null,
  caFile: null,
  certFile: null,
  keyFile: null,
  version: '5',
  sessionExpirySeconds: 600,
  connectTimeoutMs: 3000,
  ...over,
});

describe('MqttSession liveness with the fleet config', { skip: fleetToolsAvailable() ? false : 'mosquitto, mosquitto_passwd or openssl not installed', timeout: 40_000 }, () => {
  let broker: RunningMosquitto;
  before(async () => {
    broker = await startMosquitto({ config: 'fleet', agents: ['agent-1', 'agent-2', 'agent-3'] });
  });
  after(async () => {
    await broker?.stop();
  });

  it('a wrong password is E_MQTT_AUTH within seconds; the process stays alive, retrying, and connects once the password is fixed', { timeout: 20_000 }, async () => {
    const child = sessionChild({ url: broker.tlsUrl, clientId: 'x', username: 'agent-3', password: 'wrong', caFile: broker.caFile, version: 'auto', subscriptions: ['tinyproto/a/round'] });
    try {
      const t0 = Date.now();
      const first = await child.waitFor((e) => e.event === 'error', 8000, 'a classified connection error');
      assert.equal(first.code, 'E_MQTT_AUTH', JSON.stringify(first));
      assert.ok(Date.now() - t0 < 8000);
      await child.waitFor((e) => e.event === 'error' && e.code === 'E_MQTT_AUTH' && child.events.filter((x) => x.event === 'error').length >= 3, 5000, 'retries');
      assert.equal(child.proc.exitCode, null, 'still running');
      // fix the password on the broker (SIGHUP reloads the password file)
      execFileSync(mosquittoPasswdBin()!, ['-b', join(broker.dir, 'passwd'), 'agent-3', 'wrong']);
      process.kill(broker.pid, 'SIGHUP');
      await child.waitFor((e) => e.event === 'started', 5000, 'connected with the fixed password');
    } finally {
      assert.equal(await child.stop(), 0, 'exits by itself once the session is closed');
    }
  });

  it('another agent cannot take over an agent\'s session with its client id; the ACL denial of a publish is E_NOT_DELIVERED 0x87', { timeout: 15_000 }, async () => {
    const real = new MqttSession({
      settings: settings({ url: broker.url, clientId: agentClientId('tk', 'agent-1'), username: 'agent-1', password: broker.credentials!['agent-1']! }),
      subscriptions: ['tinyproto/tk/round'],
      connect,
    });
    const got: string[] = [];
    real.onMessage((_t, b) => got.push(Buffer.from(b).toString()));
    const failures: string[] = [];
    real.onConnectionError((e) => failures.push(e.code));
    const intruders = [];
    try {
      await real.start();
      for (const clientId of [agentClientId('tk', 'agent-1'), 'agent-1']) {
        intruders.push(await connectClient(broker.url, { protocolVersion: 5, clean: false, clientId, username: 'agent-2', password: broker.credentials!['agent-2']! }));
      }
      await sleep(500);
      assert.equal(real.connected, true, 'the real agent is still connected');
      assert.equal(real.counters.reconnects, 0);
      const agg = await connectClient(broker.url, { protocolVersion: 5, clientId: 'aggregator', username: 'aggregator', password: broker.credentials!['aggregator']! });
      intruders.push(agg);
      await agg.client.publishAsync('tinyproto/tk/round', Buffer.from('r1'), { qos: 1 });
      for (const end = Date.now() + 3000; !got.includes('r1') && Date.now() < end; ) await sleep(20);
      assert.ok(got.includes('r1'), 'the real agent still gets its messages');
      await assert.rejects(real.publish('tinyproto/tk/upload/agent-2', new Uint8Array([1]), false), (e: TinyProtoError) => e.code === 'E_NOT_DELIVERED' && e.details?.['reasonCode'] === 0x87);
      assert.deepEqual(failures, ['E_MQTT_ACL']);
    } finally {
      for (const c of intruders) await c.end();
      await real.close();
    }
  });

  it('a broker certificate the CA file does not vouch for is E_MQTT_TLS', { timeout: 10_000 }, async () => {
    const s = new MqttSession({
      settings: settings({ url: broker.tlsUrl!, username: 'agent-1', password: broker.credentials!['agent-1']!, caFile: join(broker.dir, 'server.crt') }),
      subscriptions: [],
      connect,
      connectAttempts: 1,
    });
    await assert.rejects(s.start(), (e: TinyProtoError) => e.code === 'E_MQTT_TLS' && /TLS handshake failed/.test(e.message));
    await s.close();
  });
});

describe('MqttSession liveness with the dev config', { skip: mosquittoAvailable() ? false : 'mosquitto not installed', timeout: 40_000 }, () => {
  it('an idle session survives the broker being killed and restarted: the process stays, reconnects and subscribes again', { timeout: 25_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tinyproto-liveness-'));
    let broker: RunningMosquitto | null = null;
    let again: ChildProcess | null = null;
    const child = (): ReturnType<typeof sessionChild> | null => c;
    let c: ReturnType<typeof sessionChild> | null = null;
    try {
      broker = await startMosquitto({ config: 'dev', dir });
      const b = broker;
      c = sessionChild({ url: b.url, clientId: agentClientId('live', 'agent-1'), username: null, password: null, caFile: null, version: 'auto', subscriptions: ['tinyproto/live/round'] });
      await c.waitFor((e) => e.event === 'started', 10_000, 'first connection');
      process.kill(b.pid, 'SIGKILL'); // no persistence written: the restarted broker has no session
      await b.stop();
      await c.waitFor((e) => e.event === 'error' && e.code === 'E_MQTT_UNREACHABLE', 5000, 'the broker is gone');
      await sleep(2500);
      assert.equal(c.proc.exitCode, null, 'an idle session keeps its process alive while the broker is away');
      rmSync(join(dir, 'data'), { recursive: true, force: true });
      execFileSync('mkdir', ['-p', join(dir, 'data')]);
      again = await restartBroker(b);
      await c.waitFor((e) => e.event === 'connect' && (e.reconnects ?? 0) >= 1, 5000, 'reconnected');
      const pub = await connectClient(b.url, { protocolVersion: 5, clientId: 'pub' });
      try {
        await pub.client.publishAsync('tinyproto/live/round', Buffer.from('after-restart'), { qos: 1, retain: true });
      } finally {
        await pub.end();
      }
      await c.waitFor((e) => e.event === 'message' && e.payload === 'after-restart', 5000, 'subscribed again after the restart');
    } finally {
      if (child()) assert.equal(await child()!.stop(), 0);
      await endProcess(again);
      await broker?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('PUBACK 0x10 (no matching subscribers) is E_NOT_DELIVERED', { timeout: 10_000 }, async () => {
    const broker = await startMosquitto({ config: 'dev' });
    const s = new MqttSession({ settings: settings({ url: broker.url, clientId: agentClientId('nd', 'agent-1') }), subscriptions: [], connect });
    try {
      await s.start();
      await assert.rejects(
        s.publish('tinyproto/nd/upload/agent-1', new Uint8Array([1, 2, 3]), false),
        (e: TinyProtoError) => e.code === 'E_NOT_DELIVERED' && e.details?.['reasonCode'] === 0x10 && /no matching subscribers/.test(e.message),
      );
    } finally {
      await s.close();
      await broker.stop();
    }
  });
});
