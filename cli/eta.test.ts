import { test } from 'node:test';
import assert from 'node:assert/strict';
import { duration, etaText } from './eta.ts';

test('durations and the estimate of the time left', () => {
  assert.equal(duration(7.4), '7s');
  assert.equal(duration(65), '1m05s');
  assert.equal(duration(3725), '1h02m');
  assert.equal(etaText(0, 10_000, 2, 10), 'elapsed 10s, ETA 40s');
  assert.equal(etaText(0, 10_000, 10, 10), 'elapsed 10s');
  assert.equal(etaText(0, 1_000, 0, 10), 'elapsed 1s');
});
