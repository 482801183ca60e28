import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { runDoctor } from './doctor.ts';
import { silentLogger } from '../common/logger.ts';
import { fleetToolsAvailable, freePort, mosquittoAvailable, startMosquitto } from '../mqtt/mosquitto.ts';

async function doctor(args: string[]): Promise<{ code: number; lines: string[] }> {
  const lines: string[] = [];
  const code = await runDoctor(args, (s) => lines.push(s.trimEnd()), silentLogger, { env: {} });
  return { code, lines };
}
const line = (lines: string[], name: string): string => lines.find((l) => l.split(/\s+/)[1] === name) ?? `(no ${name} line)`;

test('doctor: every check has a line; ONNX Runtime runs and the store folder takes commits here', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-doctor-'));
  try {
    const { lines } = await doctor(['--no-broker', '--store', join(dir, 'a.db')]);
    for (const name of ['board', 'energy', 'sensors', 'onnxruntime', 'sqlite', 'memory', 'disk', 'clock']) assert.match(line(lines, name), /^(OK|WARN|PROBLEM) /, name);
    assert.match(line(lines, 'onnxruntime'), /^OK .*execution providers: cpu/);
    assert.match(line(lines, 'sqlite'), /^OK .*durable commit/);
    assert.ok(!lines.some((l) => / broker /.test(l)), 'no broker line with --no-broker');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('doctor: a store folder that cannot be written is a problem and the exit code is 1', async () => {
  // a folder under a regular file: cannot be created, even by root
  const dir = mkdtempSync(join(tmpdir(), 'tp-doctor-'));
  writeFileSync(join(dir, 'file'), 'x');
  const { code, lines } = await doctor(['--no-broker', '--store', join(dir, 'file', 'sub', 'agent.db')]);
  rmSync(dir, { recursive: true, force: true });
  assert.match(line(lines, 'sqlite'), /^PROBLEM /);
  assert.equal(code, 1);
});

test('doctor: unreachable broker is a classified problem (E_MQTT_UNREACHABLE), exit 1', async () => {
  const port = await freePort();
  const { code, lines } = await doctor(['--broker', `mqtt://127.0.0.1:${port}`, '--store', ':memory:']);
  assert.match(line(lines, 'broker'), /^PROBLEM .*E_MQTT_UNREACHABLE/);
  assert.equal(code, 1);
});

const mosqSkip = !mosquittoAvailable() || !fleetToolsAvailable() ? 'mosquitto / openssl not installed' : false;
test('doctor: the broker check consumes nothing queued for the agent session (Mosquitto, MQTT 5)', { skip: mosqSkip, timeout: 60_000 }, async () => {
  const broker = await startMosquitto({ config: 'dev' });
  try {
    const opts = { clientId: 'exp-d:agent-7', clean: false, protocolVersion: 5 as const, reconnectPeriod: 0, properties: { sessionExpiryInterval: 3600 } };
    // the agent's persistent session subscribes, then goes away
    const agent = await mqtt.connectAsync(broker.url, opts);
    await agent.subscribeAsync('tinyproto/exp-d/test/q', { qos: 1 });
    await agent.endAsync();
    const pub = await mqtt.connectAsync(broker.url, { reconnectPeriod: 0 });
    await pub.publishAsync('tinyproto/exp-d/test/q', 'queued', { qos: 1 });
    await pub.endAsync();
    const { lines } = await doctor(['--broker', broker.url, '--experiment', 'exp-d', '--id', 'agent-7', '--store', ':memory:']);
    assert.match(line(lines, 'broker'), /^OK .*connected as agent-7 with MQTT 5, no TLS/);
    // the agent comes back and still gets the message the broker queued for it
    const back = mqtt.connect(broker.url, opts); // the handler is on before CONNACK: queued messages follow it at once
    const got = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('queued message lost')), 5000);
      back.on('message', (_t, p) => {
        clearTimeout(t);
        resolve(p.toString());
      });
    });
    await back.endAsync();
    assert.equal(got, 'queued');
  } finally {
    await broker.stop();
  }
});

test('doctor: Mosquitto with TLS and passwords: right credentials OK, wrong password E_MQTT_AUTH, no CA E_MQTT_TLS', { skip: mosqSkip, timeout: 60_000 }, async () => {
  const m = await startMosquitto({ config: 'fleet', agents: ['agent-1'] });
  try {
    const base = ['--id', 'agent-1', '--broker', m.tlsUrl!, '--store', ':memory:'];
    const good = await doctor([...base, '--ca', m.caFile!, '--password', m.credentials!['agent-1']!]);
    assert.match(line(good.lines, 'broker'), /^OK .*connected as agent-1 with MQTT 5, TLS/);
    const bad = await doctor([...base, '--ca', m.caFile!, '--password', 'wrong']);
    assert.match(line(bad.lines, 'broker'), /^PROBLEM .*E_MQTT_AUTH/);
    assert.equal(bad.code, 1);
    const noCa = await doctor([...base, '--password', m.credentials!['agent-1']!]);
    assert.match(line(noCa.lines, 'broker'), /^PROBLEM .*E_MQTT_TLS/);
  } finally {
    await m.stop();
  }
});

test('doctor --json: one array of {name, status, detail}', async () => {
  const { lines } = await doctor(['--no-broker', '--store', ':memory:', '--json']);
  const parsed = JSON.parse(lines.join('\n')) as { name: string; status: string; detail: string }[];
  assert.deepEqual(parsed.map((r) => r.name), ['board', 'energy', 'sensors', 'onnxruntime', 'sqlite', 'memory', 'disk', 'clock']);
  assert.ok(parsed.every((r) => ['ok', 'warn', 'problem'].includes(r.status) && r.detail.length > 0));
});
