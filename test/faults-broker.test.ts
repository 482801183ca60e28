/**
 * Fault suite, broker side (real Mosquitto, real agent and aggregator processes): each case runs
 * a small real experiment and checks that every round completes and that the aggregator's store
 * holds every upload the agents produced, exactly once (test/helpers/faults.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertEverythingDelivered, closedRounds, faultsSkip, sleep, until, withFleet } from './helpers/faults.ts';

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
