import { test } from 'node:test';
import assert from 'node:assert/strict';
import { participantsPerRound, selectParticipants } from './selection.ts';

const agents = Array.from({ length: 10 }, (_, i) => `agent-${i}`);

test('full participation selects everyone', () => {
  assert.deepEqual(selectParticipants(agents, 1, 1, 3), [...agents].sort());
});

test('partial participation is reproducible per (seed, round) and varies across rounds', () => {
  const a = selectParticipants(agents, 0.3, 7, 1);
  assert.equal(a.length, 3);
  assert.deepEqual(selectParticipants(agents, 0.3, 7, 1), a);
  const rounds = new Set(Array.from({ length: 10 }, (_, r) => selectParticipants(agents, 0.3, 7, r + 1).join()));
  assert.ok(rounds.size > 1);
  for (const id of a) assert.ok(agents.includes(id));
});

test('at least one agent, never more than all', () => {
  assert.equal(participantsPerRound(10, 0.01), 1);
  assert.equal(participantsPerRound(3, 1), 3);
});
