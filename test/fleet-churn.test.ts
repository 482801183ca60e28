/**
 * Churn in a real fleet (embedded broker, real agent processes): one agent is offline for rounds
 * 2-3 (its process stopped, then started again from its store), one is killed with SIGKILL while
 * it uploads round 2 (behind a 100 ms link, so the kill lands mid-upload) and restarted. The
 * offline agent uploads nothing in its offline rounds and uploads again after rejoining; the
 * crashed agent's process is gone and a new one resent its upload, which counted once or was
 * refused as stale, and took part again; every accepted upload is in the aggregator's store
 * once; each round's participants are what the schedule implies.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFleet, type FleetOptions } from '../fleet/run.ts';
import { readAgentUploads } from '../fleet/evaluations.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { fleetPlan } from '../method/fleet-plan.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import type { ChurnEvent } from '../fleet/churn.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('fleet churn: offline rounds, a crash mid-upload, rejoin and restart from the store', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 240_000 }, async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'fleet-churn-'));
  const experiment = `churn-${process.pid}`;
  const rounds = 5;
  const plans = fleetPlan({
    agents: null, link: null, board: null,
    groups: [
      { name: 'steady', agents: 1, link: null, board: null, offline: [], crashUpload: [] },
      { name: 'away', agents: 1, link: null, board: null, offline: [[2, 3]], crashUpload: [] },
      { name: 'crashy', agents: 1, link: 'none,latency=100ms', board: null, offline: [], crashUpload: [2] },
    ],
  });
  const opts: FleetOptions = {
    agents: plans.length, rounds, broker: 'embedded', dir, experiment, method: 'tinyproto', alpha: 1, seed: 5, samplesPerClient: 150,
    dataDir: null, featureDim: 500, ratio: 0.1, valueType: 'float32', families: ['resnet8'], credentials: null, caFile: null,
    // a short deadline: a round with a selected agent offline closes at it with the others'
    // uploads; a crashed or rejoining agent is waited for (within the aggregator's offline grace,
    // longer than rounds 2-3 take)
    roundDeadlineMs: 15_000, backend: 'wasm', plans,
    aggregator: { minUploads: 1, offlineGraceMs: 60_000 },
  };
  const seen: ChurnEvent[] = [];
  try {
    const res = await runFleet(opts, { onChurn: (e) => seen.push(e), onAgentLine: (a, l) => void (/trained|committed|rejected|missed/.test(l) && ctx.diagnostic(l)) });
    for (const e of res.churn) ctx.diagnostic(`${(e.atMs / 1000).toFixed(1)} s ${e.agent} ${e.action} round ${e.round} pid ${e.pid}`);
    for (const p of res.participation) ctx.diagnostic(`round ${p.round} ${p.outcome}: selected ${p.selected.join(',')} uploaded ${p.uploaded.join(',')} offline ${p.offline.join(',')} crashed ${p.crashed.join(',')} late ${p.late.join(',')} dup ${p.duplicates.join(',')}`);
    assert.equal(res.rounds.length, rounds);
    assert.deepEqual(seen, [...res.churn], 'every churn action reached the hook');

    // the schedule was applied: agent-1 stopped before round 2, started again when round 4 opened
    const of = (agent: string, action: string): ChurnEvent[] => res.churn.filter((e) => e.agent === agent && e.action === action);
    assert.deepEqual(of('agent-1', 'offline').map((e) => e.round), [2]);
    assert.ok(of('agent-1', 'offline')[0]!.pid !== null, 'a running process was stopped');
    assert.deepEqual(of('agent-1', 'rejoin').map((e) => e.round), [4]);
    // agent-2 was killed while uploading round 2, really (SIGKILL, its PID gone), and restarted as a new process
    const crash = of('agent-2', 'crash');
    assert.deepEqual(crash.map((e) => e.round), [2]);
    const restart = of('agent-2', 'restart');
    assert.deepEqual(restart.map((e) => e.round), [2]);
    assert.notEqual(restart[0]!.pid, crash[0]!.pid);
    assert.ok(restart[0]!.atMs >= crash[0]!.atMs + 1000, 'restarted after the delay');
    assert.equal(res.crashes.length, 1);
    const c = res.crashes[0]!;
    assert.equal(c.signal, 'SIGKILL');
    assert.equal(c.restarted, true);
    assert.equal(alive(crash[0]!.pid!), false, 'the killed process is gone');
    assert.ok(['counted', 'duplicate', 'stale'].includes(c.outcome), `crash outcome ${c.outcome}`);
    // the restarted agent resent its upload from its outbox and got an answer
    const outbox2 = readAgentUploads(join(dir, 'agent-2.db'), 'agent-2', experiment).find((u) => u.round === 2);
    assert.ok(outbox2 && outbox2.outcome !== null, 'the round-2 upload of the crashed agent was settled by a receipt');
    assert.ok(outbox2.attempts >= 1);
    assert.equal(c.outcome === 'stale', outbox2.outcome === 'rejected' && outbox2.code === 'E_ROUND');

    const store = openAggregatorStore(join(dir, 'aggregator.db'));
    try {
      for (const p of res.participation) {
        const rows = store.uploadsFor(experiment, p.round).map((u) => u.agent);
        // every accepted upload once
        assert.equal(new Set(rows).size, rows.length, `round ${p.round}: an agent counted twice`);
        assert.equal(rows.length, res.rounds.find((r) => r.round === p.round)!.uploads);
        assert.deepEqual([...rows].sort(), [...p.uploaded]);
        // participants: selected minus offline (minus a crash whose upload did not count)
        const expected = p.selected.filter((a) => !p.offline.includes(a));
        for (const a of p.uploaded) assert.ok(expected.includes(a), `round ${p.round}: ${a} uploaded but the schedule has it offline or unselected`);
        if (p.outcome === 'complete') assert.deepEqual([...p.uploaded], expected);
        if (p.round === 2 || p.round === 3) assert.ok(p.offline.includes('agent-1') && !p.uploaded.includes('agent-1'));
        if (p.round > 1) assert.ok(p.uploaded.includes('agent-0'), `round ${p.round}: the steady agent takes part in every round (after its start)`);
      }
      assert.ok(res.participation.find((p) => p.round === 2)!.crashed.includes('agent-2'));
      assert.equal(res.participation.find((p) => p.round === 2)!.uploaded.includes('agent-2'), c.counted);
      // agent-1 took part again after rejoining (waited for within the grace); agent-2 after its restart
      const roundsOf = (a: string): number[] => res.participation.filter((p) => p.uploaded.includes(a)).map((p) => p.round);
      assert.ok(roundsOf('agent-1').some((r) => r >= 4), `agent-1 uploaded in rounds ${roundsOf('agent-1').join(',')} (none after rejoining)`);
      assert.ok(roundsOf('agent-2').some((r) => r >= 3), `agent-2 uploaded in rounds ${roundsOf('agent-2').join(',')} (none after its restart)`);
    } finally {
      store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
