import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clipLimit, clipScale } from './train-args.ts';

test('clipLimit: absent or 0 is no limit (+Infinity); a positive value is itself', () => {
  assert.equal(clipLimit(undefined), Number.POSITIVE_INFINITY);
  assert.equal(clipLimit(0), Number.POSITIVE_INFINITY);
  assert.equal(clipLimit(2.5), 2.5);
});

test('clipScale: exactly 1 within the limit (a zero gradient included), limit / norm above it', () => {
  assert.equal(clipScale(0, 1), 1);
  assert.equal(clipScale(1, 1), 1);
  assert.equal(clipScale(0.5, Number.POSITIVE_INFINITY), 1);
  assert.equal(clipScale(4, 1), 0.25);
  assert.equal(clipScale(Number.POSITIVE_INFINITY, 1), 0, 'an infinite norm zeroes the step (the loss check then stops the epoch)');
});
