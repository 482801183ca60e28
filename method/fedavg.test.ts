import { test } from 'node:test';
import assert from 'node:assert/strict';
import { averageStates, stateBytes } from './fedavg.ts';
import type { ModelState } from '../models/engine.ts';

const st = (w: number[], b: number[]): ModelState => ({ w: { shape: [2, 2], data: new Float32Array(w) }, 'bn.mean': { shape: [2], data: new Float32Array(b) } });

test('fedavg averages every tensor weighted by the training-set sizes', () => {
  const avg = averageStates([st([1, 2, 3, 4], [0, 10]), st([3, 4, 5, 6], [10, 0])], [1, 3]);
  assert.deepEqual([...avg['w']!.data], [2.5, 3.5, 4.5, 5.5]);
  assert.deepEqual([...avg['bn.mean']!.data], [7.5, 2.5]);
  assert.deepEqual(avg['w']!.shape, [2, 2]);
  // a client with no samples does not count; equal weights give the plain mean
  assert.deepEqual([...averageStates([st([1, 1, 1, 1], [1, 1]), st([9, 9, 9, 9], [9, 9])], [2, 0])['w']!.data], [1, 1, 1, 1]);
  assert.equal(stateBytes(avg), 6 * 4);
});

test('fedavg refuses mismatched architectures and bad weights with a code', () => {
  const other: ModelState = { w: { shape: [4], data: new Float32Array(4) }, 'bn.mean': { shape: [2], data: new Float32Array(2) } };
  assert.throws(() => averageStates([st([1, 2, 3, 4], [0, 0]), other], [1, 1]), (e: Error & { code?: string }) => e.code === 'E_SHAPE' && /tensor w does not match client 0's \[2,2\]/.test(e.message));
  const extra = { ...st([1, 2, 3, 4], [0, 0]), more: { shape: [1], data: new Float32Array(1) } };
  assert.throws(() => averageStates([st([1, 2, 3, 4], [0, 0]), extra], [1, 1]), (e: Error & { code?: string }) => e.code === 'E_SHAPE' && /client 1 has 3 tensors, client 0 has 2/.test(e.message));
  assert.throws(() => averageStates([], []), /no client states/);
  assert.throws(() => averageStates([st([1, 2, 3, 4], [0, 0])], [0]), /weights sum to 0/);
  assert.throws(() => averageStates([st([1, 2, 3, 4], [0, 0])], [Number.NaN]), /finite/);
});
