import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQueue, settleWithin } from './serial.ts';
import { isTinyProtoError } from './errors.ts';

test('tasks run one at a time in order; a failure is reported and the queue goes on', async () => {
  const order: string[] = [];
  const errors: unknown[] = [];
  const q = new SerialQueue((e) => errors.push(e));
  const slow = (name: string, ms: number) => async () => {
    order.push(`${name}:start`);
    await new Promise((r) => setTimeout(r, ms));
    order.push(`${name}:end`);
  };
  void q.push(slow('a', 20));
  void q.push(() => {
    throw new Error('boom');
  });
  await q.push(slow('b', 1));
  assert.deepEqual(order, ['a:start', 'a:end', 'b:start', 'b:end']);
  assert.equal((errors[0] as Error).message, 'boom');
});

test('after close, queued tasks are skipped', async () => {
  const q = new SerialQueue(() => {});
  let ran = false;
  await q.close();
  await q.push(() => {
    ran = true;
  });
  assert.equal(ran, false);
});

test('settleWithin: the promise when it settles in time, E_TIMEOUT when it does not, the promise itself for Infinity', async () => {
  assert.equal(await settleWithin(Promise.resolve(7), 1_000, 'x'), 7);
  await assert.rejects(settleWithin(Promise.reject(new Error('own')), 1_000, 'x'), /own/);
  let rejectLate: (e: Error) => void = () => undefined;
  const never = new Promise<number>((_, reject) => (rejectLate = reject));
  await assert.rejects(settleWithin(never, 20, 'the ack'), (e: unknown) => isTinyProtoError(e, 'E_TIMEOUT') && /the ack/.test((e as Error).message));
  rejectLate(new Error('late')); // ignored: no unhandled rejection
  const p = Promise.resolve(1);
  assert.equal(settleWithin(p, Infinity, 'x'), p);
});
