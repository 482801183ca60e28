/**
 * Fault suite, broker side (real Mosquitto, real agent and aggregator processes): each case runs
 * a small real experiment and checks that every round completes and that the aggregator's store
 * holds every upload the agents produced, exactly once (test/helpers/faults.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FaultBroker, assertEverythingDelivered, closedRounds, faultsSkip, sleep, startAgent, startServer, until, type FleetSpec, type Proc } from './helpers/faults.ts';

async function withFleet(name: string, brokerOpts: ConstructorParameters<typeof Object>[0], body: (f: FleetSpec, broker: FaultBroker, server: Proc, agents: Proc[]) => Promise<void>, spec: Partial<FleetSpec> = {}): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), `tinyproto-fault-${name}-`));
  const procs: Proc[] = [];
  let broker: FaultBroker | null = null;
  try {
    broker = await FaultBroker.start(join(dir, 'broker'), brokerOpts as object);
    const f: FleetSpec = { dir, experiment: `fault-${name}`, agents: 3, rounds: 3, broker: broker.url, ...spec };
    const server = startServer(f);
    procs.push(server);
    const agents = Array.from({ length: f.agents }, (_, i) => startAgent(f, i));
    procs.push(...agents);
    await body(f, broker, server, agents);
  } catch (e) {
    for (const p of procs) console.error(`--- ${p.name} (pid ${p.pid}, exit ${p.exitCode}):\n${p.tail(25)}`);
    if (broker?.proc) console.error(`--- mosquitto:\n${broker.proc.tail(20)}`);
    throw e;
  } finally {
    for (const p of procs) await p.stop();
    await broker?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
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
