/**
 * The commands as shipped: `tinyproto server --relays` and `tinyproto relay`, child processes
 * (each with its embedded broker on a loopback port), with signed agents behind the relay and one
 * uploading to the server directly. The server pins the relay's key like an agent's, counts its
 * partial and closes every round; both processes exit 0 when the experiment is done.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../mqtt/mosquitto.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { ed25519Signer, generateSigningKey } from '../wire/signature.ts';
import { experimentMasks } from '../method/experiment.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { Proc } from './helpers/faults.ts';
import { SiteAgent, until } from './helpers/relay.ts';

const MAIN = join(dirname(fileURLToPath(import.meta.url)), '..', 'cli', 'main.ts');
const EXP = 'relay-cli';
const SETTINGS = ['--experiment', EXP, '--method', 'tinyproto', '--classes', '6', '--feature-dim', '24', '--ratio', '0.5', '--mu', '0.05', '--seed', '3', '--rounds', '2', '--deadline-ms', '60000'];

const run = (name: string, args: string[]): Proc =>
  new Proc(name, spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { env: { ...process.env, NODE_OPTIONS: '--max-semi-space-size=2' }, stdio: ['ignore', 'pipe', 'pipe'] }));

test('tinyproto server --relays and tinyproto relay run an experiment together with a direct agent', { timeout: 90_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  const [up, site] = [await freePort(), await freePort()];
  const procs: Proc[] = [];
  const agents: SiteAgent[] = [];
  try {
    procs.push(run('server', ['server', ...SETTINGS, '--agents', 'a0,a1,a2', '--relays', 'site-a', '--broker', 'embedded', '--embedded-port', String(up), '--store', join(dir, 'server.db'), '--telemetry-wait-ms', '0']));
    await until(() => procs[0]!.has(/connected to/), 'the server', 30_000);
    procs.push(run('relay', ['relay', '--id', 'site-a', '--upstream', `mqtt://127.0.0.1:${up}`, ...SETTINGS, '--agents', 'a0,a1', '--broker', 'embedded', '--embedded-port', String(site), '--store', join(dir, 'relay.db')]));
    await until(() => procs[1]!.has(/relay site-a for/), 'the relay', 30_000);
    const s = experimentMasks(resolveExperimentConfig({ experiment: EXP, agents: ['a0'], method: 'tinyproto', numClasses: 6, featureDim: 24, ratio: 0.5, mu: 0.05, seed: 3 }))!.s;
    const spec = { experiment: EXP, K: 6, d: 24, s };
    const signer = (): ReturnType<typeof ed25519Signer> => ed25519Signer(generateSigningKey().privateKeyPem);
    agents.push(new SiteAgent('a0', spec, `mqtt://127.0.0.1:${site}`, signer()), new SiteAgent('a1', spec, `mqtt://127.0.0.1:${site}`, signer()), new SiteAgent('a2', spec, `mqtt://127.0.0.1:${up}`, signer()));
    await Promise.all(agents.map((a) => a.start()));
    assert.equal(await procs[0]!.exited, 0, procs[0]!.tail());
    assert.equal(await procs[1]!.exited, 0, procs[1]!.tail());
    await until(() => agents.every((a) => a.globals.has(2)), 'every agent to get the last GLOBAL');
    assert.ok(procs[0]!.has(/partial of round 2 from site-a: 2 upload\(s\)/), procs[0]!.tail());
    const store = openAggregatorStore(join(dir, 'server.db'));
    try {
      assert.deepEqual(store.rounds(EXP).map((r) => [r.round, r.status, (r.summary as { uploads?: number } | null)?.uploads]), [[1, 'closed', 3], [2, 'closed', 3]]);
      assert.equal(store.keys.agentKey(EXP, 'site-a')?.source, 'pinned', "the relay's key is pinned like an agent's");
      assert.deepEqual(store.rejectionCounts(EXP), {});
    } finally {
      store.close();
    }
  } finally {
    for (const a of agents) await a.close();
    for (const p of procs) await p.kill9();
    rmSync(dir, { recursive: true, force: true });
  }
});
