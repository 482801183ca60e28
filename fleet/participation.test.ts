import { test } from 'node:test';
import assert from 'node:assert/strict';
import { crashOutcomes, participation, participationLines } from './participation.ts';
import { fleetPlan } from '../method/fleet-plan.ts';
import type { ChurnEvent } from './churn.ts';

const plans = fleetPlan({
  agents: null, link: null, board: null,
  groups: [
    { name: 'a', agents: 2, link: null, board: null, offline: [], crashUpload: [] },
    { name: 'b', agents: 1, link: null, board: null, offline: [[2, 3]], crashUpload: [] },
    { name: 'c', agents: 1, link: null, board: null, offline: [], crashUpload: [2, 3] },
  ],
});
const ev = (agent: string, round: number, action: ChurnEvent['action']): ChurnEvent => ({ agent, round, action, atMs: round * 1000, pid: 100 + round });

test('per round: selected, uploaded, offline by the schedule, crashed, late and duplicate from the receipts; crash outcomes', () => {
  const uploads: Record<number, string[]> = { 1: ['agent-0', 'agent-1', 'agent-2', 'agent-3'], 2: ['agent-3', 'agent-0'], 3: ['agent-0', 'agent-1'] };
  const facts = {
    plans,
    rounds: [1, 2, 3].map((round) => ({ round, outcome: round === 1 ? 'complete' : 'deadline' })),
    selected: (round: number) => (round === 3 ? ['agent-0', 'agent-1', 'agent-3'] : plans.map((p) => p.id)),
    uploaded: (round: number) => uploads[round] ?? [],
    outbox: [
      { agent: 'agent-3', round: 2, outcome: 'duplicate' as const, code: 'E_ROUND' },
      { agent: 'agent-3', round: 3, outcome: 'rejected' as const, code: 'E_ROUND' },
      { agent: 'agent-2', round: 3, outcome: 'rejected' as const, code: 'E_ROUND' },
      { agent: 'agent-1', round: 2, outcome: null, code: null },
    ],
    churn: [ev('agent-2', 2, 'offline'), ev('agent-3', 2, 'crash'), ev('agent-3', 2, 'restart'), ev('agent-3', 3, 'crash')],
    exits: [{ agent: 'agent-3', round: 2, action: 'crash' as const, pid: 102, signal: 'SIGKILL', code: null }],
  };
  const p = participation(facts);
  assert.deepEqual(p[1], { round: 2, outcome: 'deadline', selected: ['agent-0', 'agent-1', 'agent-2', 'agent-3'], uploaded: ['agent-0', 'agent-3'], offline: ['agent-2'], crashed: ['agent-3'], late: [], duplicates: ['agent-3'] });
  assert.deepEqual([p[2]!.late, p[2]!.offline, p[2]!.crashed], [['agent-2', 'agent-3'], ['agent-2'], ['agent-3']]);
  const c = crashOutcomes(facts);
  assert.deepEqual(c.map((x) => [x.round, x.outcome, x.counted, x.restarted, x.signal]), [[2, 'duplicate', true, true, 'SIGKILL'], [3, 'stale', false, false, null]]);
  const lines = participationLines(p, c, 4);
  assert.equal(lines[0], 'round 1 (complete): uploaded 4/4 selected');
  assert.equal(lines[1], 'round 2 (deadline): uploaded 2/4 selected (missing agent-1, agent-2); offline agent-2; crashed mid-upload agent-3 (duplicate); duplicate resends agent-3');
  assert.equal(lines[2], 'round 3 (deadline): selected agent-0, agent-1, agent-3; uploaded 2/3 selected (missing agent-3); offline agent-2; crashed mid-upload agent-3 (stale); late (stale, E_ROUND) agent-2, agent-3');
});
