import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SerialQueue } from './serial.ts';

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
