/**
 * FleetChurn over real child processes (small Node scripts standing in for agent processes'
 * lifecycle, not their protocol): the offline schedule stops and restarts processes at the
 * round events, a crash-upload round's "trained" line gets the process SIGKILLed once and
 * restarted, and every action is an event.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcesses } from './agents.ts';
import { FleetChurn, type ChurnEvent } from './churn.ts';
import { fleetPlan } from '../method/fleet-plan.ts';

/** Prints the line in LINE (if any) once started; ends on SIGTERM. */
const SCRIPT = "if (process.env.LINE) console.log(process.env.LINE); process.on('SIGTERM', () => process.exit(0)); setInterval(() => {}, 1000);";
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

const until = async (f: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(f(), 'condition not met in time');
};

test('offline rounds stop and rejoin, a crash mid-upload kills once and restarts', { timeout: 30_000 }, async () => {
  const plans = fleetPlan({
    agents: null, link: null, board: null,
    groups: [
      { name: 'steady', agents: 1, link: null, board: null, offline: [], crashUpload: [] },
      { name: 'away', agents: 1, link: null, board: null, offline: [[2, 3]], crashUpload: [] },
      { name: 'crashy', agents: 1, link: null, board: null, offline: [], crashUpload: [2] },
      { name: 'late', agents: 1, link: null, board: null, offline: [[1, 1]], crashUpload: [] },
    ],
  });
  const lines: Record<string, string> = { 'agent-0': '[agent-0] round 2: trained in 0.1 s (loss 1)', 'agent-2': '[agent-2] round 2: trained in 0.1 s (loss 1)' };
  const t0 = Date.now();
  let churn: FleetChurn | null = null;
  const procs = new AgentProcesses({
    specs: plans.map((p) => ({ id: p.id, args: ['-e', SCRIPT], env: { ...process.env, LINE: lines[p.id] ?? '' } })),
    onLine: (id, l) => churn?.agentLine(id, l),
  });
  const seen: ChurnEvent[] = [];
  churn = new FleetChurn({ plans, rounds: 5, processes: procs, now: () => Date.now() - t0, restartDelayMs: 100, stopGraceMs: 5_000, onEvent: (e) => seen.push(e) });
  try {
    churn.begin(1);
    assert.deepEqual(['agent-0', 'agent-1', 'agent-2', 'agent-3'].map((id) => procs.isRunning(id)), [true, true, true, false]);
    const away = procs.pid('agent-1')!;
    churn.roundClosed(1);
    churn.roundOpened(2);
    assert.ok(procs.isRunning('agent-3'), 'agent-3 rejoins when round 2 opens');
    // the crash: agent-2 printed that it trained round 2 (once started)
    await until(() => churn!.events.some((e) => e.action === 'restart'));
    await churn.settle(10_000);
    assert.equal(alive(away), false, 'agent-1 stopped for rounds 2-3');
    assert.equal(procs.isRunning('agent-1'), false);
    churn.roundClosed(2);
    churn.roundOpened(3);
    assert.equal(procs.isRunning('agent-1'), false);
    churn.roundClosed(3);
    churn.roundOpened(4);
    assert.ok(procs.isRunning('agent-1'), 'agent-1 rejoins when round 4 opens');
    await churn.settle(10_000);
    await new Promise((r) => setTimeout(r, 500)); // the restarted agent-2 prints its line again
    const summary = churn.events.map((e) => `${e.agent} ${e.action} ${e.round}`);
    assert.deepEqual(summary.filter((s) => !s.includes('agent-2')), ['agent-3 offline 1', 'agent-1 offline 2', 'agent-3 rejoin 2', 'agent-1 rejoin 4']);
    // agent-2: killed once (its restarted process printed the line again: no second crash), restarted
    assert.deepEqual(summary.filter((s) => s.includes('agent-2')), ['agent-2 crash 2', 'agent-2 restart 2']);
    const crash = churn.events.find((e) => e.action === 'crash')!;
    assert.equal(alive(crash.pid!), false);
    assert.deepEqual(churn.exits.find((x) => x.action === 'crash')!.signal, 'SIGKILL');
    // stopped by SIGTERM (at once after its start here: before its handler was installed, or by it)
    const off = churn.exits.find((x) => x.action === 'offline')!;
    assert.ok(off.code === 0 || off.signal === 'SIGTERM', `offline exit ${off.code} ${off.signal}`);
    assert.ok(procs.isRunning('agent-2'));
    // agent-0 printed the same line but has no crash in its plan
    assert.ok(procs.isRunning('agent-0'));
    assert.deepEqual(seen, churn.events);
    assert.ok(churn.events.every((e) => e.atMs >= 0 && (e.pid === null || e.pid > 0)));
  } finally {
    await churn.close();
    await procs.stopAll(2_000);
  }
});
