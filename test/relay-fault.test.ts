/**
 * A relay killed (SIGKILL, child processes this test started, by PID) twice: first in the middle
 * of a round (two of its four agents receipted), then after all four were receipted and its
 * PARTIAL sent, before the coordinator acknowledged it (the coordinator is down then). Each time
 * it restarts on the same store: the first restart rebuilds the open round's sums from the stored
 * uploads (the recovery path), the second resends the stored PARTIAL. The round's global counts
 * every upload exactly once (equal to the reference computed from the uploads themselves) and the
 * relay exits when the experiment is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Aggregator, type RoundClosed } from '../aggregator/aggregator.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { aggregatorSigningKey, signingAggregatorTransport } from '../aggregator/signing.ts';
import { closeGlobal } from '../aggregator/close.ts';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { experimentMasks } from '../method/experiment.ts';
import { experimentMu } from '../aggregator/config.ts';
import { decodeGlobal } from '../wire/codec.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { serverArgs } from '../cli/server.ts';
import { Proc } from './helpers/faults.ts';
import { SiteAgent, dyadicUpload, until } from './helpers/relay.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts');
const EXP = 'relay-fault';
const AGENTS = ['a0', 'a1', 'a2', 'a3'];
const FLAGS = ['--experiment', EXP, '--method', 'tinyproto', '--classes', '6', '--feature-dim', '24', '--ratio', '0.5', '--mu', '0.05', '--seed', '3', '--rounds', '1', '--deadline-ms', '60000', '--agents', AGENTS.join(',')];

function startRelay(store: string, upstream: string, site: string): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'relay', '--id', 'relay-a', '--upstream', upstream, '--broker', site, '--store', store, '--resend-ms', '300', ...FLAGS], {
    env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=2' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Proc('relay', child);
}

test('a relay SIGKILLed mid-round and between its receipts and the coordinator\'s acknowledgement loses nothing and counts nothing twice', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-fault-'));
  const U = await startEmbeddedBroker({ port: 0 });
  const S = await startEmbeddedBroker({ port: 0 });
  const procs: Proc[] = [];
  const agents: SiteAgent[] = [];
  const coordDb = join(dir, 'coord.db');
  const relayDb = join(dir, 'relay.db');
  const args = serverArgs([...FLAGS, '--relays', 'relay-a', '--store', coordDb], {});
  const config = args.experiment;
  const coordinator = () => {
    const store = openAggregatorStore(coordDb);
    const mqttT = new MqttAggregatorTransport(EXP, { ...args.connection, broker: U.url });
    const agg = new Aggregator({ config, store, transport: signingAggregatorTransport(mqttT, aggregatorSigningKey(store.keys).signer), relays: args.relays });
    return { store, mqttT, agg, close: async () => (await agg.stop(), await mqttT.close(), store.close()) };
  };
  let second: ReturnType<typeof coordinator> | null = null;
  try {
    // the coordinator announces round 1 (retained on U), then goes down
    const first = coordinator();
    await first.mqttT.start();
    await first.agg.start();
    await first.close();

    procs.push(startRelay(relayDb, U.url, S.url));
    const s = experimentMasks(config)!.s;
    const spec = { experiment: EXP, K: 6, d: 24, s };
    const signers = AGENTS.map(() => ed25519Signer(generateSigningKey().privateKeyPem));
    agents.push(...AGENTS.map((a, i) => new SiteAgent(a, spec, S.url, signers[i]!)));
    // kill 1: the round is open at the relay, two uploads receipted
    await Promise.all(agents.slice(0, 2).map((a) => a.start()));
    await until(() => agents.slice(0, 2).every((a) => a.receipts.get(1) === 'accepted'), 'two agents receipted by the relay', 30_000);
    await procs[0]!.kill9();
    const mid = openAggregatorStore(relayDb);
    assert.deepEqual([mid.getRound(EXP, 1)?.status, mid.uploadsFor(EXP, 1).map((u) => u.agent).sort()], ['open', ['a0', 'a1']], 'the receipted uploads are in the store');
    mid.close();
    procs.push(startRelay(relayDb, U.url, S.url));
    await until(() => procs[1]!.has(/round 1 resumed: 4 site agent/), 'the relay to resume round 1 from its store', 30_000);
    // kill 2: all four receipted, the partial sent, the coordinator down
    await Promise.all(agents.slice(2).map((a) => a.start()));
    await until(() => agents.every((a) => a.receipts.get(1) === 'accepted'), 'every agent receipted by the relay', 30_000);
    await until(() => procs[1]!.has(/round 1 sealed \(complete\): 4\/4 uploads/) && procs[1]!.has(/partial of round 1 sent/), 'the relay to seal and send its partial');
    await procs[1]!.kill9();

    const seen = openAggregatorStore(relayDb);
    assert.deepEqual(seen.partials.unsettled(EXP, 'relay-a').map((p) => p.round), [1], 'the partial is kept, unsettled');
    assert.equal(seen.uploadsFor(EXP, 1).length, 4);
    seen.close();

    procs.push(startRelay(relayDb, U.url, S.url));
    await until(() => procs[2]!.has(/resending the partial of round\(s\) 1/), 'the restarted relay to resend', 30_000);
    second = coordinator();
    const closed: RoundClosed[] = [];
    second.agg.on('roundClosed', (r: RoundClosed) => closed.push(r));
    await second.mqttT.start();
    await second.agg.start();
    await second.agg.done;
    assert.deepEqual(closed.map((r) => [r.round, r.uploads, r.selected]), [[1, 4, 4]]);
    assert.equal(second.store.partials.forRound(EXP, 1).length, 1);

    // the reference: one aggregator's close over the very uploads the agents sent
    const frames = AGENTS.map((a, i) => dyadicUpload(spec, a, 1, signers[i]!));
    const ctx = { config, sender: 'aggregator', round: 1, masks: experimentMasks(config), mu: experimentMu(config), valuesPerClass: s, layout: 'sparse' as const };
    const want = decodeGlobal(closeGlobal(ctx, frames, new Map()).bytes!).body.prototypes;
    const got = decodeGlobal(second.store.getRound(EXP, 1)!.globalBytes!).body.prototypes;
    assert.deepEqual(got.map((p) => [p.classId, p.contributors, [...p.values]]), want.map((p) => [p.classId, p.contributors, [...p.values]]));

    assert.equal(await procs[2]!.exited, 0, `the relay finishes after the last GLOBAL:\n${procs[2]!.tail()}`);
    await until(() => agents.every((a) => a.globals.has(1)), 'every agent to get the GLOBAL through the relay');
  } finally {
    for (const a of agents) await a.close();
    for (const p of procs) await p.kill9();
    await second?.close().catch(() => undefined);
    await U.close();
    await S.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
