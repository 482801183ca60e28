import { test } from 'node:test';
import assert from 'node:assert/strict';
import { roundUploaders } from './summary.ts';
import type { RoundTiming } from './records.ts';

test('roundUploaders: the selected clients less the ones whose training diverged; with timing, those whose uploads arrived in time', () => {
  assert.deepEqual(roundUploaders({ selected: [0, 1, 2, 3] }), [0, 1, 2, 3]);
  const failed = [{ client: 2, round: 7, code: 'E_DIVERGED', message: 'client 2: training diverged' }];
  assert.deepEqual(roundUploaders({ selected: [0, 1, 2, 3], failed }), [0, 1, 3]);
  const timing = { uploaded: [3, 0] } as unknown as RoundTiming;
  assert.deepEqual(roundUploaders({ selected: [0, 1, 2, 3], failed, timing }), [3, 0]);
});
