import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundTimes, stragglers, toTarget } from './targets.ts';
import { telemetryFor } from '../test/helpers/report.ts';
import type { RunData } from './model.ts';

const rounds = [0.5, 0.7, 0.82, 0.9].map((acc, i) => ({ round: i + 1, accuracyHead: acc, accuracyPrototype: i === 0 ? null : acc - 0.1, bytesUp: 100, bytesDown: 50, seconds: 10 * (i + 1) }));

test('time, bytes and energy to a target accuracy; not reached is null', () => {
  const tel = [1, 2, 3, 4].flatMap((r) => ['a', 'b'].map((a) => telemetryFor('t', a, r, { joules: 2 })));
  const run: RunData = { name: 't', method: 'tinyproto', kind: 'fleet', rounds, perAgent: [], telemetry: tel };
  assert.deepEqual(toTarget(run, 0.8, 'head'), { round: 3, seconds: 60, bytes: 450, energyJoules: 12 });
  assert.deepEqual(toTarget(run, 0.8, 'prototype'), { round: 4, seconds: 100, bytes: 600, energyJoules: 16 });
  assert.equal(toTarget(run, 0.95, 'head'), null);
  assert.equal(toTarget({ ...run, telemetry: [] }, 0.8, 'head')!.energyJoules, null);
});

test('round-time percentiles and the agents that straggled', () => {
  const slow = (agent: string, round: number, s: number) => {
    const t = telemetryFor('t', agent, round);
    return { ...t, phases: { ...t.phases, round: s } };
  };
  const tel = [1, 2].flatMap((r) => [slow('a', r, 10), slow('b', r, 11), slow('c', r, 10.5), slow('d', r, r === 1 ? 30 : 12)]);
  const run: RunData = { name: 't', method: 'tinyproto', kind: 'fleet', rounds, perAgent: [], telemetry: tel };
  assert.deepEqual(stragglers(run), [{ agent: 'd', rounds: 1 }]);
  const t = roundTimes(run)!;
  assert.equal(t.p50, 25);
  assert.ok(Math.abs(t.p95 - 38.5) < 1e-9);
  assert.equal(roundTimes({ ...run, rounds: [] }), null);
});
