/**
 * On the embedded broker (no ACL): a client that is neither the aggregator nor an agent publishes
 * a forged ROUND (round 100), GLOBAL and MASKS on the aggregator's topics and an upload under an
 * agent's id. With the signing and verifying transport wrappers composed around the real
 * aggregator and agents, every forgery is dropped (agents) or rejected (aggregator, recorded),
 * and the real experiment completes. Loopback only, bounded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator, type RoundClosed } from '../aggregator/aggregator.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from '../aggregator/signing.ts';
import { AgentAuthentication } from '../aggregator/authenticity.ts';
import { AgentAuthenticity } from '../agent/authenticity.ts';
import { agentSigner, signingAgentTransport } from '../agent/signing.ts';
import { encodeGlobal, encodeMasks, encodeRound, encodeUpload } from '../wire/codec.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { signFrame } from '../wire/sign-frame.ts';
import { aggregatorTopic, agentTopic } from '../wire/topics.ts';
import { connectClient } from './helpers/mqtt.ts';
import { SKIP, until, startAgent, experiment, assertAllRoundsComplete, type RunningAgent } from './helpers/resume.ts';

test('forged aggregator messages and a forged upload are dropped on a broker without an ACL; the real rounds complete', { skip: SKIP, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-auth-'));
  const broker = await startEmbeddedBroker({ port: 0 });
  const EXP = 'exp-auth';
  const ids = ['a1', 'a2'];
  const config = experiment(EXP, ids, 2);
  const store = openAggregatorStore(join(dir, 'aggregator.db'));
  const key = aggregatorSigningKey(store.keys);
  const mqttT = new MqttAggregatorTransport(EXP, { broker: broker.url, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: 'auto' });
  const agentAuth = new AgentAuthentication({ store, experiment: EXP, agents: ids });
  const aggregator = new Aggregator({ config, store, transport: agentAuth.wrap(signingAggregatorTransport(mqttT, key.signer)) });
  const closed: RoundClosed[] = [];
  aggregator.on('roundClosed', (r: RoundClosed) => closed.push(r));
  const agents: RunningAgent[] = [];
  const auths = new Map<string, AgentAuthenticity>();
  const attacker = await connectClient(broker.url, { clientId: 'mallory' }, 5000);
  try {
    await mqttT.start();
    await aggregator.start();
    for (const [i, id] of ids.entries()) {
      agents.push(
        await startAgent({
          id,
          client: i,
          clients: ids.length,
          broker: broker.url,
          dir,
          experiment: EXP,
          wrap: (t, agentStore) => {
            const auth = new AgentAuthenticity({ store: agentStore, experiment: EXP });
            auths.set(id, auth);
            return auth.wrap(signingAgentTransport(t, agentSigner(agentStore)));
          },
        }),
      );
    }
    await until(() => ids.every((id) => auths.get(id)!.aggregatorKey !== null && agentAuth.agentKey(id) !== null), 'keys pinned on both sides', 30_000);
    assert.equal(auths.get('a1')!.aggregatorKey, key.publicKey);
    // Mallory: forged aggregator messages, unsigned and signed with her own key (carried)
    const mallory = ed25519Signer(generateSigningKey().privateKeyPem);
    const agg = { experiment: EXP, sender: 'aggregator' };
    const round100 = encodeRound({ ...agg, round: 100 }, { method: 'tinyproto', valueType: config.valueType, deadlineMs: Date.now() + 60_000, lambda: 10, lr: 0.01, batchSize: 32, localEpochs: 1, selected: [] });
    const s = aggregator.valuesPerClass;
    const global = encodeGlobal(
      { ...agg, round: 50 },
      { K: config.numClasses, d: config.featureDim, s, layout: 'sparse', valueType: 'float32', prototypes: [{ classId: 0, values: new Float32Array(s).fill(1e3), contributors: 2 }] },
    );
    const masks = encodeMasks({ ...agg, round: 0 }, { mode: 'params', params: { numClasses: config.numClasses, featureDim: config.featureDim, ratio: 0.5, seed: 999 } });
    const pub = (topic: string, bytes: Uint8Array, retain: boolean) => attacker.client.publishAsync(topic, Buffer.from(bytes), { qos: 1, retain });
    await pub(aggregatorTopic(EXP, 'round'), round100, true);
    await pub(aggregatorTopic(EXP, 'global'), signFrame(global, mallory, { embedKey: true }), true);
    await pub(aggregatorTopic(EXP, 'masks'), masks, true);
    await pub(aggregatorTopic(EXP, 'round'), signFrame(round100, mallory, { embedKey: true }), true);
    // an upload under a2's name for the open round (signed with Mallory's key, and unsigned)
    const current = aggregator.currentRound;
    const forged = encodeUpload(
      { experiment: EXP, sender: 'a2', round: current },
      { K: config.numClasses, d: config.featureDim, s, layout: 'sparse', valueType: config.valueType, prototypes: [{ classId: 0, values: new Float32Array(s).fill(5) }] },
    );
    await pub(agentTopic(EXP, 'upload', 'a2'), signFrame(forged, mallory, { embedKey: true }), false);
    await pub(agentTopic(EXP, 'upload', 'a2'), forged, false);
    await until(() => ids.every((id) => (auths.get(id)!.dropped['E_CODEC_SIGNATURE'] ?? 0) >= 4), 'agents to drop the 4 forgeries', 30_000);
    await until(() => (store.rejectionCounts(EXP)['E_CODEC_SIGNATURE'] ?? 0) >= 2, 'the aggregator to reject the 2 forged uploads', 30_000);
    await aggregator.done;
    assertAllRoundsComplete(store, EXP, 2, ids.length);
    assert.deepEqual(closed.map((r) => [r.round, r.uploads]), [[1, 2], [2, 2]]);
    for (const a of agents) {
      assert.equal(a.agent.lastCompletedRound, 2, `${a.id} trained the real rounds only (not round 100)`);
      assert.deepEqual([...new Set(a.trained)], [1, 2]);
    }
    const rej = store.rejections(EXP, 10).filter((r) => r.code === 'E_CODEC_SIGNATURE');
    assert.ok(rej.length >= 2 && rej.every((r) => r.agent === 'a2'));
    // the stored uploads are the agents' own: signed by their pinned keys
    for (const u of store.uploadsFor(EXP, current)) assert.ok(agentAuth.accept('upload', u.agent, u.bytes), u.agent);
  } finally {
    await attacker.end();
    for (const a of agents) await a.stop();
    await aggregator.stop();
    await mqttT.close();
    store.close();
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
