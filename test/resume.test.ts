/**
 * Crash and restart behaviour of the agent over the embedded broker (harness:
 * test/helpers/resume.ts):
 *  a. an agent restarted mid-experiment resumes from its checkpoint and never retrains a round;
 *  b. an upload made while the broker is down stays in the outbox (pending) and is delivered
 *     exactly once when the agent reconnects to a restarted broker on the same port.
 * The aggregator's side is in test/resume-aggregator.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startEmbeddedBroker, type EmbeddedBroker } from '../mqtt/broker.ts';
import { SKIP, sleep, until, deferred, HookedTransport, type RunningAgent, startAgent, type RunningAggregator, startAggregator, experiment, countBy, assertAllRoundsComplete } from './helpers/resume.ts';

test('an agent restarted mid-experiment resumes from its checkpoint and never retrains a round', { skip: SKIP, timeout: 240_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-a-'));
  const exp = experiment('resume-a', ['agent-0', 'agent-1'], 3);
  const broker = await startEmbeddedBroker({ port: 0 });
  const agents: RunningAgent[] = [];
  let agg: RunningAggregator | null = null;
  // agent-0's round-1 upload waits until agent-1 has been restarted: round 1 stays open meanwhile
  const gate0 = deferred();
  try {
    agg = await startAggregator(exp, broker.url, join(dir, 'aggregator.db'));
    const common = { clients: 2, broker: broker.url, dir, experiment: exp.experiment };
    const a0 = await startAgent({ ...common, id: 'agent-0', client: 0, wrap: (t) => new HookedTransport(t, 1, () => gate0.promise) });
    agents.push(a0);
    const first = await startAgent({ ...common, id: 'agent-1', client: 1 });
    agents.push(first);
    assert.equal(first.lastCompletedAtStart, 0);
    await until(() => first.uploaded.some((u) => u.round === 1), 'agent-1 to upload round 1');
    // its RECEIPT follows the aggregator's (group) commit: stop once it has settled the outbox,
    // or the restarted agent rightly resends the upload it still holds
    await until(() => first.store.pendingUploads(exp.experiment).length === 0, "agent-1's round-1 receipt");
    await first.stop();
    assert.deepEqual(first.trained, [1]);
    assert.equal(agg.uploads.filter((u) => u.round === 1 && u.agent === 'agent-1').length, 1);

    const second = await startAgent({ ...common, id: 'agent-1', client: 1 });
    agents.push(second);
    assert.equal(second.lastCompletedAtStart, 1, 'the new agent starts from the stored progress');
    assert.ok(
      second.logger.entries.some((e) => e.msg === 'resumed from checkpoint' && e.fields?.['round'] === 1),
      'the new agent loaded the round-1 checkpoint',
    );
    gate0.resolve();
    await agg.aggregator.done;
    assert.ok(agg.finished, 'experiment finished');
    await Promise.all(agents.slice(1).map((a) => a.agent.idle()));

    assert.deepEqual(countBy([...first.trained, ...second.trained]), { 1: 1, 2: 1, 3: 1 }, 'agent-1 trained each round exactly once');
    assert.ok(!second.trained.includes(1) && !second.uploaded.some((u) => u.round === 1), 'the restarted agent did not redo round 1');
    assert.deepEqual(countBy(a0.trained), { 1: 1, 2: 1, 3: 1 });
    assert.deepEqual(agg.closed.map((c) => [c.round, c.uploads, c.selected]), [[1, 2, 2], [2, 2, 2], [3, 2, 2]]);
    assert.deepEqual(agg.rejected, [], 'nothing rejected (no duplicate upload)');
    assert.deepEqual(agg.store.rejectionCounts(exp.experiment), {});
    assertAllRoundsComplete(agg.store, exp.experiment, 3, 2);
    assert.equal(second.store.lastCompletedRound(exp.experiment), 3);
    // the last receipt is published before the round closes, and reaches the agent soon after
    await until(() => second.store.pendingUploads(exp.experiment).length === 0, 'the last receipt to settle the outbox', 10_000);
  } finally {
    gate0.resolve();
    for (const a of agents) await a.stop().catch(() => undefined);
    await agg?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an upload made while the broker is down stays pending in the outbox and is delivered exactly once after reconnecting', { skip: SKIP, timeout: 180_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-resume-b-'));
  const exp = experiment('resume-b', ['agent-0'], 2);
  let broker: EmbeddedBroker = await startEmbeddedBroker({ port: 0 });
  const port = broker.port;
  let agg: RunningAggregator | null = null;
  let a0: RunningAgent | null = null;
  const outage = deferred();
  try {
    agg = await startAggregator(exp, broker.url, join(dir, 'aggregator.db'));
    // the agent reconnects after a fixed 2.5 s; the aggregator's first retry is after 0.5 s, so it
    // is back (and resubscribed to the new broker, which kept no sessions) before the agent is
    const brokerToClose = broker;
    a0 = await startAgent({
      id: 'agent-0',
      client: 0,
      clients: 1,
      broker: broker.url,
      dir,
      experiment: exp.experiment,
      reconnectMs: 2500,
      wrap: (t) =>
        new HookedTransport(t, 1, async () => {
          await brokerToClose.close();
          await sleep(100);
          outage.resolve();
        }),
    });
    const agent = a0;
    await outage.promise;
    // the broker is gone, the upload of round 1 was handed to the MQTT client: not acknowledged
    await sleep(150);
    assert.deepEqual(agent.trained, [1]);
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'pending');
    assert.deepEqual(agent.store.pendingUploads(exp.experiment).map((p) => p.round), [1]);
    assert.deepEqual(agent.uploaded, []);
    assert.equal(agg.store.uploadsFor(exp.experiment, 1).length, 0);
    assert.equal(agent.transport.counters.reconnects, 0);

    broker = await startEmbeddedBroker({ port });
    const aggregator = agg;
    await until(() => aggregator.transport.counters.reconnects >= 1, 'the aggregator to reconnect', 20_000);
    assert.equal(agent.transport.counters.reconnects, 0, 'the agent is still offline when the aggregator is back');
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'pending');

    await agg.aggregator.done;
    assert.ok(agg.finished);
    await agent.agent.idle();
    assert.ok(agent.transport.counters.reconnects >= 1, 'the agent reconnected');
    assert.deepEqual(agg.uploads.map((u) => [u.round, u.agent]), [[1, 'agent-0'], [2, 'agent-0']], 'each upload accepted once');
    assert.deepEqual(agent.uploaded, [{ round: 1, attempts: 1 }, { round: 2, attempts: 1 }], 'each upload acknowledged once');
    assert.deepEqual(agg.rejected, []);
    assert.deepEqual(agent.trained, [1, 2]);
    assert.equal(agent.store.uploadState(exp.experiment, 1), 'acked');
    assert.deepEqual(agent.store.pendingUploads(exp.experiment), []);
    assertAllRoundsComplete(agg.store, exp.experiment, 2, 1);
  } finally {
    outage.resolve();
    await a0?.stop().catch(() => undefined);
    await agg?.stop().catch(() => undefined);
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
