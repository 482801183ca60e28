import { test } from 'node:test';
import assert from 'node:assert/strict';
import { atDeadline, earlyClose, type RoundProgress } from './round-policy.ts';

const p = (o: Partial<RoundProgress>): RoundProgress => ({ selected: 4, accepted: 0, offline: 0, minUploads: 2, closeAt: null, extensions: 0, maxExtensions: 2, ...o });

test('a round closes early when everyone uploaded, or when everyone missing is offline and the minimum is met', () => {
  assert.equal(earlyClose(p({ accepted: 4 }))?.outcome, 'complete');
  assert.equal(earlyClose(p({ accepted: 2, offline: 2 }))?.outcome, 'agents-offline');
  assert.equal(earlyClose(p({ accepted: 1, offline: 3 })), null, 'below the minimum: wait for the deadline');
  assert.equal(earlyClose(p({ accepted: 2, offline: 1 })), null, 'one agent is still online');
});

test('over-selection: a round closes at the first closeAt uploads', () => {
  assert.equal(earlyClose(p({ selected: 6, accepted: 3, closeAt: 4 })), null);
  const e = earlyClose(p({ selected: 6, accepted: 4, closeAt: 4 }));
  assert.equal(e?.outcome, 'enough');
  assert.equal(e?.reason, "over-selection: closed at the first 4 of 6 selected agents' uploads");
});

test('every round ends: extensions are bounded, then it closes with what it has or is abandoned', () => {
  assert.deepEqual(atDeadline(p({ accepted: 2 })), { action: 'close', outcome: 'deadline', reason: 'deadline: 2 of 4 uploaded' });
  assert.equal(atDeadline(p({ accepted: 1, extensions: 0 })).action, 'extend');
  assert.equal(atDeadline(p({ accepted: 1, extensions: 1 })).action, 'extend');
  assert.deepEqual(atDeadline(p({ accepted: 1, extensions: 2 })), {
    action: 'close',
    outcome: 'below-minimum',
    reason: 'closed below the minimum after 2 extensions: 1 of the 2 uploads needed',
  });
  assert.deepEqual(atDeadline(p({ accepted: 0, extensions: 2 })), {
    action: 'close',
    outcome: 'abandoned',
    reason: 'abandoned after 2 extensions: no upload from the 4 selected agents',
  });
  assert.equal(atDeadline(p({ accepted: 0, maxExtensions: 0 })).action, 'close');
});
