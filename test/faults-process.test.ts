/**
 * Fault suite, process side (real Mosquitto, real agent and aggregator processes): an agent and
 * the aggregator killed mid-round and restarted, the aggregator killed in the middle of a group
 * commit (uploads received, PUBACKs held, batch not yet durable), and a broker queue far below
 * the upload burst.
 * Each case checks that every round completes and that the aggregator's store holds every upload
 * the agents produced, exactly once (test/helpers/faults.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openAggregatorStore } from '../aggregator/store.ts';
import { assertEverythingDelivered, closedRounds, faultsSkip, sleep, startAgent, startServer, until, withFleet } from './helpers/faults.ts';

test('an agent killed (-9) mid-round and restarted from its store: it never trains a round twice and its upload arrives once', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await withFleet('agent-kill', {}, async (f, _broker, server, agents, track) => {
    const victim = agents[1]!;
    await until(() => victim.has(/round 2: trained/), 'agent-1 to train round 2', 120_000);
    await victim.kill9();
    await sleep(500);
    const again = track(startAgent(f, 1));
    await server.exited;
    assert.equal(server.exitCode, 0);
    assert.deepEqual(closedRounds(server), [1, 2, 3]);
    assert.ok(!again.has(/round [12]: trained/), `the restarted agent did not retrain rounds 1-2:\n${again.tail()}`);
    assertEverythingDelivered(f);
  });
});

/** Kills the aggregator (-9) once round 2 opened, restarts it from its store: it resumes round 2, finishes, and nothing accepted is lost. */
function aggregatorKilledAndRestarted(name: string, extraServerArgs: string[] = []): Promise<void> {
  return withFleet(name, {}, async (f, _broker, server, _agents, track) => {
    await until(() => server.has(/^round 2 opened/), 'round 2 to open', 120_000);
    await server.kill9();
    await sleep(1000);
    const second = track(startServer(f));
    await second.exited;
    assert.equal(second.exitCode, 0, second.tail());
    assert.ok(second.has(/^round 2 resumed/), 'the restarted aggregator resumed round 2');
    assertEverythingDelivered(f);
  }, { extraServerArgs });
}

test('the aggregator killed (-9) mid-round and restarted from its store resumes the round; nothing accepted is lost', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await aggregatorKilledAndRestarted('aggregator-kill');
});

test('the aggregator killed (-9) mid-round with --stale-rounds 1 and 2 of 3 agents a round: it rebuilds the class ages from its store and resumes; nothing accepted is lost', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await aggregatorKilledAndRestarted('aggregator-kill-stale', ['--participation', '0.67', '--stale-rounds', '1']);
});

test('the aggregator killed (-9) in the middle of a group commit, its PUBACKs held: the broker redelivers, nothing is lost or counted twice', { skip: faultsSkip, timeout: 180_000 }, async () => {
  // a batch waits 1 s after its first message before it commits: the kill lands inside that window
  await withFleet(
    'mid-batch',
    {},
    async (f, _broker, server, agents, track) => {
      await until(() => agents.some((a) => a.has(/round 2: upload acknowledged by the broker/)), 'a round-2 upload to reach the broker', 120_000);
      await sleep(100);
      await server.kill9();
      const reached = agents.filter((a) => a.has(/round 2: upload acknowledged by the broker/)).length;
      const store = openAggregatorStore(join(f.dir, 'server.db'));
      const committed = store.uploadsFor(f.experiment, 2).length;
      store.close();
      // the fault really bit: the aggregator had an upload in hand that was not yet durable
      assert.ok(committed < reached, `round-2 uploads committed ${committed} < reached the broker ${reached}`);
      const second = track(startServer(f));
      await second.exited;
      assert.equal(second.exitCode, 0, second.tail());
      assert.deepEqual(closedRounds(second), [2, 3]);
      const { outcomes } = assertEverythingDelivered(f);
      assert.equal(outcomes.length, f.agents * f.rounds);
      // the agents resend only after a minute: what the killed aggregator held came back from
      // the broker's redelivery of the unacknowledged PUBLISHes, not from the agents
      for (const a of agents) assert.ok(a.has(/round 2: upload committed by the aggregator \(accepted, 1 send\(s\)\)/), `${a.name} round 2 in one send:\n${a.tail(6)}`);
    },
    { extraServerArgs: ['--commit-delay-ms', '1000', '--commit-batch', '1000'], agentEnv: { TINYPROTO_RESEND_AFTER_MS: '60000' } },
  );
});

test('a broker queue far below the upload burst (max_queued_messages 1) while the aggregator is down: dropped uploads are resent until committed', { skip: faultsSkip, timeout: 180_000 }, async () => {
  await withFleet(
    'queue-limit',
    { maxQueued: 1 },
    async (f, broker, server, agents, track) => {
      await until(() => server.has(/^round 2 opened/), 'round 2 to open', 120_000);
      // the aggregator goes away: the broker keeps at most one message of its persistent session
      await server.kill9();
      await until(() => agents.every((a) => a.has(/round 2: upload acknowledged/)), 'every round-2 upload to reach the broker', 60_000);
      const second = track(startServer(f));
      await second.exited;
      assert.equal(second.exitCode, 0, second.tail());
      assert.deepEqual(closedRounds(second), [2, 3]);
      const { outcomes } = assertEverythingDelivered(f);
      assert.equal(outcomes.length, f.agents * f.rounds);
      // the limit really bit: some round-2 upload needed more than one send
      const resent = agents.filter((a) => a.lines.some((l) => /round 2: upload committed .* ([2-9]|\d\d) send\(s\)/.test(l)));
      assert.ok(resent.length >= f.agents - 1, `uploads resent by ${resent.length} agents:\n${agents.map((a) => a.tail(4)).join('\n')}\n${broker.proc!.tail()}`);
    },
    { agents: 4 },
  );
});
