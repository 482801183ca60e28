/**
 * Fault suite, broker side (real Mosquitto, real agent and aggregator processes): each case runs
 * a small real experiment and checks that every round completes and that the aggregator's store
 * holds every upload the agents produced, exactly once (test/helpers/faults.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { agentId, assertEverythingDelivered, closedRounds, faultsSkip, sleep, startServer, until, withFleet } from './helpers/faults.ts';
import { connectClient, subscribe } from './helpers/mqtt.ts';
import { agentTopic, aggregatorTopic } from '../wire/topics.ts';
import { decodeGlobal, decodeMasks, encodeStatus, encodeUpload } from '../wire/codec.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { signFrame } from '../wire/sign-frame.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import type { AggregatorStore } from '../aggregator/store.ts';

/** The mu the harness gives the server (test/helpers/faults.ts). */
const MU = 0.05;

function globalOf(store: AggregatorStore, experiment: string, round: number): Uint8Array {
  const r = store.rounds(experiment).find((x) => x.round === round);
  const bytes = r ? store.getRound(experiment, round)?.globalBytes : null;
  if (!bytes) throw new Error(`round ${round} has no global prototypes`);
  return bytes;
}

test('broker kill -9 mid-round and restart WITHOUT persistence: the round in flight completes, nothing is lost', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await withFleet('broker-restart', {}, async (f, broker, server, agents) => {
    await until(() => closedRounds(server).includes(1), 'round 1 to close', 120_000);
    // mid-round 2: kill the broker, its retained messages, sessions and queues go with it
    await until(() => server.has(/^round 2 opened/), 'round 2 to open', 30_000);
    await broker.kill9();
    await sleep(1500);
    await broker.restart();
    assert.equal(await Promise.race([server.exited, sleep(0).then(() => 'alive')]), 'alive', 'the aggregator did not exit');
    await server.exited;
    assert.equal(server.exitCode, 0, 'the aggregator finished the experiment');
    assert.deepEqual(closedRounds(server), [1, 2, 3]);
    for (const a of agents) assert.ok(a.alive, `${a.name} is still running`);
    const { rejections } = assertEverythingDelivered(f);
    assert.deepEqual(Object.keys(rejections).filter((c) => c !== 'E_DUPLICATE' && c !== 'E_ROUND'), [], 'only resends were refused');
  });
});

test('a poisoned upload: 1e30 is refused (E_VALUE_BOUND); a large but finite one is clipped, so one agent moves a global prototype by a bounded amount; every round ends', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await withFleet(
    'poison',
    {},
    async (f, broker, server) => {
      // agent-3 is a member of the experiment that turned hostile: a raw client with its own key
      const attacker = await connectClient(broker.url, { clientId: 'attacker', protocolVersion: 5 });
      try {
        await subscribe(attacker, [aggregatorTopic(f.experiment, 'masks'), aggregatorTopic(f.experiment, 'round')]);
        const masksMsg = await attacker.waitFor((m) => m.topic.endsWith('/masks'), 60_000, 'the masks');
        const masks = decodeMasks(masksMsg.payload).body.masks;
        await attacker.waitFor((m) => m.topic.endsWith('/round') && m.payload.length > 0, 60_000, 'round 1');
        const key = ed25519Signer(generateSigningKey().privateKeyPem);
        const upload = (value: number): Buffer =>
          Buffer.from(
            signFrame(
              encodeUpload(
                { experiment: f.experiment, sender: agentId(3), round: 1 },
                { K: 10, d: 500, s: masks.s, layout: 'sparse', valueType: 'float32', prototypes: [0, 1, 2].map((classId) => ({ classId, values: new Float32Array(masks.s).fill(value) })) },
              ),
              key,
              { embedKey: true },
            ),
          );
        const topic = agentTopic(f.experiment, 'upload', agentId(3));
        await attacker.client.publishAsync(topic, upload(1e30), { qos: 1 });
        await until(() => server.has(/rejected agent-3 round 1: E_VALUE_BOUND/), 'the 1e30 upload to be refused', 30_000);
        // the largest value the bound lets through (1e4 / mu per value), on every value of 3 classes
        await attacker.client.publishAsync(topic, upload(0.9 * (1e4 / MU)), { qos: 1 });
        // then it leaves: its last word is STATUS offline, so later rounds do not wait for it
        const offline = encodeStatus({ experiment: f.experiment, sender: agentId(3), round: 1 }, { state: 'offline', timeMs: Date.now(), lastRound: 1, modelFamily: '', note: 'gone' });
        await attacker.client.publishAsync(agentTopic(f.experiment, 'status', agentId(3)), Buffer.from(signFrame(offline, key, { embedKey: true })), { qos: 1, retain: true });
      } finally {
        await attacker.end();
      }
      await server.exited;
      assert.equal(server.exitCode, 0, server.tail());
      assert.deepEqual(closedRounds(server), [1, 2, 3], 'every round ended (rounds 2-3 without agent-3, which went offline)');
      const store = openAggregatorStore(join(f.dir, 'server.db'));
      try {
        assert.ok(store.uploadsFor(f.experiment, 1).some((u) => u.agent === agentId(3)), 'the clipped upload counted in round 1');
        const g = decodeGlobal(globalOf(store, f.experiment, 1));
        let worst = 0;
        for (const p of g.body.prototypes) {
          assert.ok(p.values.every(Number.isFinite), `class ${p.classId} is finite`);
          worst = Math.max(worst, Math.hypot(...p.values));
        }
        // clipping bounds one upload's class vector to 100 / mu before the sum, so it moves a
        // global prototype by at most 100 (unclipped it would be mu * 0.9e4/mu * sqrt(s) = 9000 * sqrt(s))
        assert.ok(worst <= 100 + 20, `a global prototype moved by ${worst.toFixed(1)}`);
        assert.ok(worst > 50, `the poisoned upload did count (clipped): ${worst.toFixed(1)}`);
      } finally {
        store.close();
      }
    },
    { agents: 4, idle: [3], extraServerArgs: ['--deadline-ms', '30000', '--offline-grace-ms', '500'] },
  );
});

test('idle agents whose broker disappears for a while do not exit; they reconnect and take part when the aggregator starts', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await withFleet(
    'idle-broker-gone',
    {},
    async (f, broker, _placeholder, agents, track) => {
      await until(() => agents.every((a) => a.has(/connected to mqtt/)), 'every agent to connect', 60_000);
      await broker.kill9();
      await until(() => agents.every((a) => a.has(/cannot connect: broker not reachable/)), 'every agent to notice', 30_000);
      await sleep(3000);
      for (const a of agents) assert.ok(a.alive, `${a.name} is still running while the broker is gone`);
      await broker.restart();
      await until(() => agents.every((a) => a.has(/connected again/)), 'every agent to reconnect', 30_000);
      const server = track(startServer(f));
      await server.exited;
      assert.equal(server.exitCode, 0, server.tail());
      assert.deepEqual(closedRounds(server), [1, 2, 3]);
      assertEverythingDelivered(f);
    },
    { serverLater: true },
  );
});
