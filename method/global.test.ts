import { test } from 'node:test';
import assert from 'node:assert/strict';
import { updateGlobalPrototypes } from './global.ts';
import { makeClassMasks } from '../wire/masks.ts';

const masks = makeClassMasks({ numClasses: 4, featureDim: 8, ratio: 0.25, seed: 1 });

test('tinyproto: mu * sum of scaled prototypes, expanded under the mask; absent classes keep the previous prototype', () => {
  const s = masks.s;
  assert.equal(s, 2);
  const ctx = { method: 'tinyproto' as const, numClasses: 4, featureDim: 8, masks, mu: 0.5 };
  const previous = new Map([[3, new Float32Array([9, 9])]]);
  const up = updateGlobalPrototypes(ctx, [new Map([[0, new Float32Array([2, 4])]]), new Map([[0, new Float32Array([2, 0])], [1, new Float32Array([1, 1])]])], previous);
  assert.ok(up);
  assert.deepEqual([...up.prototypes.get(0)!], [2, 2]);
  assert.deepEqual([...up.prototypes.get(1)!], [0.5, 0.5]);
  assert.deepEqual([...up.prototypes.get(3)!], [9, 9]);
  assert.deepEqual([...up.contributors], [2, 1, 0, 0]);
  assert.deepEqual([...up.expanded.hasGlobal], [1, 1, 0, 1]);
  const row0 = up.expanded.prototypes.subarray(0, 8);
  for (let k = 0; k < 8; k++) assert.equal(row0[k], masks.indices[0]!.includes(k) ? 2 : 0);
  assert.equal(previous.size, 1, 'previous map not mutated');
});

test('tinyproto without adaptive scaling (aggregation mean): the unweighted mean of the masked prototypes, mu unused, from uploads and from running sums alike', async () => {
  const { updateGlobalFromSums } = await import('./global.ts');
  const { RunningSums } = await import('./running-sum.ts');
  const ctx = { method: 'tinyproto' as const, numClasses: 4, featureDim: 8, masks, mu: 0.5, aggregation: 'mean' as const };
  const uploads = [new Map([[0, new Float32Array([2, 4])]]), new Map([[0, new Float32Array([4, 0])], [1, new Float32Array([1, 3])]])];
  const up = updateGlobalPrototypes(ctx, uploads, new Map());
  assert.deepEqual([...up!.prototypes.get(0)!], [3, 2]);
  assert.deepEqual([...up!.prototypes.get(1)!], [1, 3]);
  const sums = new RunningSums(4, masks.s);
  uploads.forEach((u, i) => sums.add(u, String(i)));
  const fromSums = updateGlobalFromSums(ctx, sums, new Map());
  assert.deepEqual([...fromSums!.prototypes.get(0)!], [3, 2]);
  assert.deepEqual([...fromSums!.expanded.prototypes], [...up!.expanded.prototypes]);
  // the paper's rule on the same uploads: mu * sum
  assert.deepEqual([...updateGlobalPrototypes({ ...ctx, aggregation: 'scaled' }, uploads, new Map())!.prototypes.get(0)!], [3, 2].map((v) => v * 2 * 0.5));
});

test('fedproto: unweighted mean of dense prototypes; local: no update', () => {
  const ctx = { method: 'fedproto' as const, numClasses: 2, featureDim: 2, masks: null, mu: null };
  const up = updateGlobalPrototypes(ctx, [new Map([[1, new Float32Array([1, 3])]]), new Map([[1, new Float32Array([3, 5])]])], new Map());
  assert.deepEqual([...up!.prototypes.get(1)!], [2, 4]);
  assert.deepEqual([...up!.expanded.prototypes], [0, 0, 2, 4]);
  assert.equal(updateGlobalPrototypes({ ...ctx, method: 'local' }, [], new Map()), null);
});

test('dropStalePrototypes: ages count rounds without a contributor; a class is dropped when its age reaches staleRounds; 0 keeps all', async () => {
  const { dropStalePrototypes } = await import('./global.ts');
  const protos = new Map([[0, new Float32Array([1])], [1, new Float32Array([2])]]);
  let ages: Int32Array = new Int32Array(3);
  const keep = dropStalePrototypes(protos, Int32Array.from([1, 0, 0]), ages, 0);
  assert.deepEqual([...keep.ages], [0, 1, 1]);
  assert.deepEqual([...keep.prototypes.keys()], [0, 1]);
  // staleRounds 2: class 1 survives one round without contributors, not two
  let r = dropStalePrototypes(protos, Int32Array.from([1, 0, 0]), ages, 2);
  assert.deepEqual([...r.prototypes.keys()], [0, 1]);
  ages = r.ages;
  r = dropStalePrototypes(r.prototypes, Int32Array.from([2, 0, 0]), ages, 2);
  assert.deepEqual([...r.prototypes.keys()], [0]);
  assert.deepEqual([...r.ages], [0, 2, 2]);
  // a contributor resets the age; the input is untouched
  assert.deepEqual([...dropStalePrototypes(protos, Int32Array.from([0, 1, 0]), r.ages, 2).ages], [1, 0, 3]);
  assert.equal(protos.size, 2);
});
