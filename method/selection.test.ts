import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isSelected, participantsPerRound, selectionRank, selectParticipants } from './selection.ts';

const agents = Array.from({ length: 10 }, (_, i) => `agent-${i}`);

test('full participation selects everyone', () => {
  assert.deepEqual(selectParticipants(agents, 1, 'e1', 3), { selected: [...agents].sort(), threshold: null });
});

test('partial participation is reproducible per (experiment, round) and varies across rounds', () => {
  const a = selectParticipants(agents, 0.3, 'e1', 1).selected;
  assert.equal(a.length, 3);
  assert.deepEqual(selectParticipants(agents, 0.3, 'e1', 1).selected, a);
  const rounds = new Set(Array.from({ length: 10 }, (_, r) => selectParticipants(agents, 0.3, 'e1', r + 1).selected.join()));
  assert.ok(rounds.size > 1);
  for (const id of a) assert.ok(agents.includes(id));
});

test('at least one agent, never more than all', () => {
  assert.equal(participantsPerRound(10, 0.01), 1);
  assert.equal(participantsPerRound(3, 1), 3);
});

test('the rank is 53 bits of SHA-256 (PROTOCOL.md §3.2 vector) and fits a double exactly', () => {
  // python3: struct.unpack('<Q', sha256(b"tinyproto-select/e1/3/agent-7").digest()[:8])[0] >> 11
  assert.equal(selectionRank('e1', 3, 'agent-7'), 6518868577276150);
  for (let i = 0; i < 200; i++) {
    const r = selectionRank('x', i, `a${i}`);
    assert.ok(Number.isSafeInteger(r) && r >= 0 && r < 2 ** 53);
  }
});

test('an agent decides from the threshold alone exactly what the list says, at any fleet size', () => {
  const fleet = Array.from({ length: 5000 }, (_, i) => `agent-${i}`);
  const { selected, threshold } = selectParticipants(fleet, 0.1, 'big', 4);
  assert.equal(selected.length, 500);
  const byThreshold = fleet.filter((a) => isSelected(a, 'big', 4, { selected: [], rankThreshold: threshold! }));
  assert.deepEqual(byThreshold.sort(), selected);
  assert.ok(isSelected('agent-1', 'big', 4, { selected: [] }));
  assert.equal(isSelected('agent-1', 'big', 4, { selected: ['agent-2'] }), false);
});
