/**
 * A relay killed (SIGKILL, a child process this test started, by PID) after it RECEIPTed its
 * agents' uploads and before the coordinator acknowledged its PARTIAL (the coordinator is down
 * then), restarted on the same store: the round's global still counts every upload exactly once
 * (equal to the reference computed from the uploads themselves) and the relay exits when done.
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

test('a relay SIGKILLed between its receipts and the coordinator\'s acknowledgement loses nothing and counts nothing twice', { timeout: 90_000 }, async () => {
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
    await Promise.all(agents.map((a) => a.start()));
    await until(() => agents.every((a) => a.receipts.get(1) === 'accepted'), 'every agent receipted by the relay', 30_000);
    await until(() => procs[0]!.has(/partial of round 1 sent/), 'the relay to send its partial');
    await procs[0]!.kill9();

    const seen = openAggregatorStore(relayDb);
    assert.deepEqual(seen.partials.unsettled(EXP, 'relay-a').map((p) => p.round), [1], 'the partial is kept, unsettled');
    assert.equal(seen.uploadsFor(EXP, 1).length, 4);
    seen.close();

    procs.push(startRelay(relayDb, U.url, S.url));
    await until(() => procs[1]!.has(/resending the partial of round\(s\) 1/), 'the restarted relay to resend', 30_000);
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

    assert.equal(await procs[1]!.exited, 0, `the relay finishes after the last GLOBAL:\n${procs[1]!.tail()}`);
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
