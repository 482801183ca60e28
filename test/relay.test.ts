/**
 * Scale-out through edge relays, on loopback: a coordinator on broker U, two relays each on its
 * own site broker (S1, S2) linked to U, eight agents behind the relays and one directly on U;
 * and the same uploads through one plain aggregator on its own broker P. Every component is the
 * real one (embedded aedes brokers, MQTT sessions, codec, signing, SQLite stores); the agents
 * are lightweight (a fixed upload per round, resent until its receipt).
 *
 * The global prototypes must be bit-identical: the uploads' values are k/256 (|k| < 4096), so
 * every float64 sum is exact whatever the grouping (relays' partials then the coordinator, or
 * one aggregator in arrival order), and mu * sum rounds to the same float32. Contributor counts
 * must be exact. (For arbitrary values grouping changes float64 rounding: method/running-sum.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Aggregator, type RoundClosed } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore, type AggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from '../aggregator/signing.ts';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { experimentMasks } from '../method/experiment.ts';
import { decodeGlobal } from '../wire/codec.ts';
import { Relay } from '../relay/relay.ts';
import { MqttRelayUpstream } from '../relay/upstream.ts';
import { CoordinatorAuthenticity } from '../relay/coordinator-key.ts';
import { SiteAgent, until } from './helpers/relay.ts';

const EXP = 'relay-e2e';
const ROUNDS = 2;
const AGENTS = Array.from({ length: 9 }, (_, i) => `a${i}`);
const SITE_A = AGENTS.slice(0, 4);
const SITE_B = AGENTS.slice(4, 8);
const settings = { experiment: EXP, method: 'tinyproto', numClasses: 6, featureDim: 24, ratio: 0.5, mu: 0.05, seed: 3, rounds: ROUNDS, roundDeadlineMs: 60_000 } as const;
const conn = (broker: string) => ({ broker, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: '3.1.1' as const });

function aggregatorOn(broker: string, store: AggregatorStore, config: ExperimentConfig, relays: string[] = []) {
  const mqttT = new MqttAggregatorTransport(EXP, conn(broker));
  const key = aggregatorSigningKey(store.keys);
  const agg = new Aggregator({ config, store, transport: signingAggregatorTransport(mqttT, key.signer), relays });
  return { agg, mqttT, key };
}

function relayOn(id: string, site: string, upstream: string, store: AggregatorStore, agents: string[]) {
  const config = resolveExperimentConfig({ ...settings, agents });
  const siteT = new MqttAggregatorTransport(EXP, conn(site));
  const key = aggregatorSigningKey(store.keys);
  const up = new MqttRelayUpstream(EXP, id, conn(upstream));
  const coordinator = new CoordinatorAuthenticity({ store, experiment: EXP });
  const relay = new Relay({ config, store, transport: signingAggregatorTransport(siteT, key.signer), relayId: id, upstream: coordinator.wrap(up), signer: key.signer, resendMs: 500 });
  return { relay, siteT, up, key, coordinator };
}

function globalsOf(store: AggregatorStore): unknown[] {
  return store.rounds(EXP).map((r) => {
    const g = store.getRound(EXP, r.round)!.globalBytes!;
    return decodeGlobal(g).body.prototypes.map((p) => ({ classId: p.classId, contributors: p.contributors, values: [...p.values] }));
  });
}

test('two relays give the global prototypes and contributor counts of one aggregator, exactly', { timeout: 60_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-e2e-'));
  const brokers: EmbeddedBroker[] = [];
  const closers: (() => Promise<unknown>)[] = [];
  try {
    const [U, S1, S2, P] = await Promise.all([0, 1, 2, 3].map(() => startEmbeddedBroker({ port: 0 })));
    brokers.push(U!, S1!, S2!, P!);
    const config = resolveExperimentConfig({ ...settings, agents: AGENTS });
    const s = experimentMasks(config)!.s;
    const spec = { experiment: EXP, K: 6, d: 24, s };

    // one plain aggregator, every agent on its broker
    const plainStore = openAggregatorStore(join(dir, 'plain.db'));
    const plain = aggregatorOn(P!.url, plainStore, config);
    // the coordinator with two relays, a8 uploading to it directly
    const coordStore = openAggregatorStore(join(dir, 'coord.db'));
    const coord = aggregatorOn(U!.url, coordStore, config, ['relay-a', 'relay-b']);
    const relayStores = [openAggregatorStore(join(dir, 'relay-a.db')), openAggregatorStore(join(dir, 'relay-b.db'))];
    const relays = [relayOn('relay-a', S1!.url, U!.url, relayStores[0]!, SITE_A), relayOn('relay-b', S2!.url, U!.url, relayStores[1]!, SITE_B)];
    closers.push(async () => {
      for (const r of relays) await r.relay.stop();
      await plain.agg.stop();
      await coord.agg.stop();
      for (const t of [plain.mqttT, coord.mqttT, ...relays.flatMap((r) => [r.siteT, r.up])]) await t.close();
      for (const st of [plainStore, coordStore, ...relayStores]) st.close();
    });
    const closed: RoundClosed[] = [];
    coord.agg.on('roundClosed', (r: RoundClosed) => closed.push(r));
    for (const t of [plain.mqttT, coord.mqttT, ...relays.flatMap((r) => [r.siteT, r.up])]) await t.start();
    await plain.agg.start();
    await coord.agg.start();
    for (const r of relays) await r.relay.start();

    const agents = [
      ...AGENTS.map((a) => new SiteAgent(a, spec, P!.url)),
      ...SITE_A.map((a) => new SiteAgent(a, spec, S1!.url)),
      ...SITE_B.map((a) => new SiteAgent(a, spec, S2!.url)),
      new SiteAgent('a8', spec, U!.url),
    ];
    closers.unshift(async () => Promise.all(agents.map((a) => a.close())));
    await Promise.all(agents.map((a) => a.start()));
    await Promise.all([plain.agg.done, coord.agg.done]);
    const viaRelays = agents.slice(AGENTS.length);
    await until(() => viaRelays.every((a) => a.globals.has(ROUNDS)), 'every agent behind a relay to get the last GLOBAL');

    const want = globalsOf(plainStore);
    assert.equal(want.length, ROUNDS);
    assert.deepEqual(globalsOf(coordStore), want, 'bit-identical global prototypes and contributor counts');
    assert.deepEqual(closed.map((r) => [r.round, r.uploads, r.selected]), [[1, 9, 9], [2, 9, 9]]);
    for (const round of [1, 2]) {
      assert.deepEqual(coordStore.partials.forRound(EXP, round).map((p) => p.relay), ['relay-a', 'relay-b']);
      assert.deepEqual(coordStore.uploadsFor(EXP, round).map((u) => u.agent), ['a8'], 'only the direct agent upload is held as an upload');
    }
    for (const a of viaRelays) assert.deepEqual([...a.receipts.values()], ['accepted', 'accepted'], `${a.id}'s receipts`);
    // the relay re-signs what it passes on: its agents see ROUNDs signed by the relay's key
    for (const a of viaRelays.slice(0, 4)) assert.ok(a.roundSigners.length > 0 && a.roundSigners.every((k) => k === relays[0]!.key.publicKey));
    assert.equal(relays[0]!.coordinator.coordinatorKey, coord.key.publicKey, 'the relay pinned the coordinator key');
    assert.deepEqual(relays.map((r) => r.relay.unsettledRounds()), [[], []]);
    await Promise.all(relays.map((r) => r.relay.done));
  } finally {
    for (const c of closers) await c().catch(() => undefined);
    for (const b of brokers) await b.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
