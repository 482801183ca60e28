import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluatesRound, PlateauRule } from './long-run.ts';

test('every k-th round is evaluated, and always the last', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].filter((r) => evaluatesRound(r, 7, 3)), [3, 6, 7]);
  assert.deepEqual([1, 2, 3].filter((r) => evaluatesRound(r, 3, 1)), [1, 2, 3]);
  assert.deepEqual([1, 2, 3].filter((r) => evaluatesRound(r, 3, 10)), [3]);
});

test('the plateau rule fires after `patience` evaluations that improve neither accuracy by more than delta', () => {
  const rule = new PlateauRule(2, 0.01);
  const feed = (round: number, head: number | null, proto: number | null): boolean => rule.feed({ round, accuracyHead: head, accuracyPrototype: proto });
  assert.equal(feed(1, 0.5, 0.4), false);
  assert.equal(feed(2, 0.6, 0.4), false); // head improved
  assert.equal(feed(3, 0.605, 0.405), false); // below delta: 1 without improvement
  assert.equal(feed(4, null, null), false); // not evaluated: ignored
  assert.equal(feed(5, 0.6, 0.45), false); // prototype improved: the count starts again
  assert.equal(feed(6, 0.6, 0.45), false);
  assert.equal(feed(7, 0.6, 0.455), true); // two in a row
  assert.equal(rule.stoppedAt, 7);
  assert.equal(feed(8, 0.9, 0.9), true); // once fired it stays fired
  assert.equal(rule.stoppedAt, 7);
});

test('patience 0 never stops a run', () => {
  const rule = new PlateauRule(0, 0.01);
  for (let r = 1; r <= 50; r++) assert.equal(rule.feed({ round: r, accuracyHead: 0.5, accuracyPrototype: null }), false);
  assert.equal(rule.stoppedAt, null);
});
