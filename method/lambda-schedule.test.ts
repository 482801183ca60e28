import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lambdaFactor } from './lambda-schedule.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('final = 1 (the default): lambda the same in every round', () => {
  for (const r of [1, 2, 50, 100, 250]) assert.equal(lambdaFactor(r, 100, 1), 1);
});

test('a half cosine from 1 in round 1 to final in the last round, flat after it', () => {
  assert.equal(lambdaFactor(1, 101, 0.2), 1);
  assert.ok(Math.abs(lambdaFactor(51, 101, 0.2) - 0.6) < 1e-12, 'half way: the mean of 1 and final');
  assert.ok(Math.abs(lambdaFactor(101, 101, 0.2) - 0.2) < 1e-12);
  assert.ok(Math.abs(lambdaFactor(300, 101, 0.2) - 0.2) < 1e-12, 'beyond the last round it stays at final');
  let prev = Infinity;
  for (let r = 1; r <= 101; r++) {
    const f = lambdaFactor(r, 101, 0);
    assert.ok(f <= prev && f >= 0 && f <= 1, `monotone in [0, 1] at round ${r}`);
    prev = f;
  }
  assert.equal(lambdaFactor(1, 1, 0), 1, 'a one-round run keeps lambda');
});

test('bad arguments are E_CONFIG with the value named', () => {
  const bad: [number, number, number, RegExp][] = [
    [0, 10, 0.5, /round is 0/],
    [1.5, 10, 0.5, /round is 1.5/],
    [1, 0, 0.5, /rounds is 0/],
    [1, 10, 1.5, /final is 1.5/],
    [1, 10, Number.NaN, /final is NaN/],
  ];
  for (const [r, n, f, msg] of bad) {
    assert.throws(() => lambdaFactor(r, n, f), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && msg.test((e as Error).message));
  }
});
