/**
 * End to end with real agent processes (runFleet spawns bin/tinyproto.mjs agent):
 *  - over a real Mosquitto with the project's FLEET config (TLS, password file, ACL), agents and
 *    aggregator logging in with their own credentials; a malformed upload injected over TLS by a
 *    raw client logged in as one agent, on its own upload topic, is rejected and counted while
 *    the round still completes;
 *  - over the embedded broker (the process-spawning path, no auth).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, type FleetOptions } from '../fleet/run.ts';
import type { RoundOpened, UploadRejected } from '../aggregator/aggregator.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { agentTopic } from '../wire/topics.ts';
import { fleetToolsAvailable, startMosquitto, type RunningMosquitto } from '../mqtt/mosquitto.ts';
import { connectClient, type TestClient } from './helpers/mqtt.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

function fleetOptions(over: Partial<FleetOptions> & Pick<FleetOptions, 'agents' | 'rounds' | 'broker' | 'dir' | 'experiment'>): FleetOptions {
  return {
    method: 'tinyproto',
    alpha: 1,
    seed: 3,
    samplesPerClient: 60,
    dataDir: null,
    featureDim: 500,
    ratio: 0.1,
    valueType: 'float32',
    families: ['resnet8'],
    credentials: null,
    caFile: null,
    roundDeadlineMs: 240_000,
    backend: 'wasm',
    ...over,
  };
}

const mosquittoSkip = !fleetToolsAvailable()
  ? 'mosquitto, mosquitto_passwd or openssl not installed (apt-get install mosquitto openssl)'
  : !haveData && 'dataset-fashion-mnist not installed';

test('a fleet of agent processes over Mosquitto (fleet config: TLS, passwords, ACL) completes its rounds; an injected malformed upload is rejected', { skip: mosquittoSkip, timeout: 420_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-fleet-mosquitto-'));
  const ids = ['agent-0', 'agent-1', 'agent-2'];
  let broker: RunningMosquitto | null = null;
  let raw: TestClient | null = null;
  let injection: Promise<void> | null = null;
  try {
    broker = await startMosquitto({ config: 'fleet', agents: ids, plainListener: false });
    const b = broker;
    assert.ok(b.tlsUrl && b.caFile && b.credentials);
    const credentialsFile = join(dir, 'credentials.json');
    writeFileSync(credentialsFile, JSON.stringify(b.credentials), { mode: 0o600 });
    const rejected: UploadRejected[] = [];
    const agentLines: string[] = [];
    let injectedAck: unknown = null;
    const result = await runFleet(
      fleetOptions({ agents: 3, rounds: 2, broker: b.tlsUrl!, dir: join(dir, 'run'), experiment: 'mosq', credentials: credentialsFile, caFile: b.caFile! }),
      {
        // inject as soon as the aggregator opens round 1
        onAggregator: (aggregator) =>
          aggregator.on('roundOpened', (o: RoundOpened) => {
            if (o.round !== 1 || injection !== null) return;
            injection = (async () => {
              raw = await connectClient(b.tlsUrl!, {
                protocolVersion: 5,
                clientId: 'agent-1-intruder',
                username: 'agent-1',
                password: b.credentials!['agent-1']!,
                ca: readFileSync(b.caFile!),
                rejectUnauthorized: true,
              });
              // MQTT 5: a publish the ACL denies gets PUBACK 0x87 and publishAsync rejects
              injectedAck = await raw.client.publishAsync(agentTopic('mosq', 'upload', 'agent-1'), Buffer.from('not a tinyproto message'), { qos: 1 });
            })();
          }),
        onRejected: (r) => rejected.push(r),
        onAgentLine: (agent, line) => agentLines.push(`${agent}: ${line}`),
      },
    );
    assert.ok(injection, 'round 1 was opened');
    await injection;
    assert.ok(injectedAck, 'the broker acknowledged the injected publish (allowed by the ACL)');

    const why = `agent output:\n${agentLines.slice(-40).join('\n')}`;
    assert.deepEqual(
      result.rounds.map((r) => [r.round, r.uploads, r.selected]),
      [
        [1, 3, 3],
        [2, 3, 3],
      ],
      why,
    );
    assert.equal(result.rounds[1]!.evaluatedBy, 3, why);
    assert.deepEqual(
      result.evaluations.filter((e) => e.round === 2).map((e) => e.agent).sort(),
      ids,
      'every agent evaluated round 2',
    );
    // exactly the injected message was rejected, during round 1, as a codec error
    assert.equal(rejected.length, 1, JSON.stringify(rejected));
    const r = rejected[0]!;
    assert.equal(r.round, 1);
    assert.equal(r.agent, 'agent-1');
    assert.match(r.code, /^E_CODEC_/);
    assert.deepEqual(result.rejections, { [r.code]: 1 }, 'counted in the aggregator store');
  } finally {
    if (injection) await (injection as Promise<void>).catch(() => undefined);
    await (raw as TestClient | null)?.end();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fleet of agent processes over the embedded broker completes its rounds', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 300_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-fleet-embedded-'));
  try {
    const rejected: UploadRejected[] = [];
    let ready: { brokerUrl: string; agents: { id: string }[] } | null = null;
    const result = await runFleet(fleetOptions({ agents: 2, rounds: 2, broker: 'embedded', dir, experiment: 'fleet-embedded' }), {
      onReady: (info) => (ready = info),
      onRejected: (r) => rejected.push(r),
    });
    assert.ok(ready);
    assert.match((ready as { brokerUrl: string }).brokerUrl, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(result.brokerUrl, 'embedded');
    assert.deepEqual(
      result.rounds.map((r) => [r.round, r.uploads, r.selected, r.evaluatedBy]),
      [
        [1, 2, 2, 2],
        [2, 2, 2, 2],
      ],
    );
    assert.deepEqual(rejected, []);
    assert.deepEqual(result.rejections, {});
    assert.ok(result.rounds.every((r) => r.accuracyHead !== null && r.bytesIn > 0 && r.globalBytes > 0));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
