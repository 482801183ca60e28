import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TinyProtoError } from '../common/errors.ts';
import { updateGlobalPrototypes } from './global.ts';
import { checkGlobalValues, checkUploadValues, clipUpload, uploadNormBound, uploadValueBound, FEATURE_VALUE_BOUND, PROTOTYPE_NORM_BOUND, type RobustBounds } from './robust.ts';
import type { ClassUpload } from './aggregate.ts';
import { makeClassMasks } from '../wire/masks.ts';

const code = (c: string) => (e: unknown) => e instanceof TinyProtoError && e.code === c;
const norm = (v: Float32Array): number => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const dist = (a: Float32Array, b: Float32Array): number => Math.sqrt(a.reduce((q, x, i) => q + (x - b[i]!) ** 2, 0));

// 4 honest clients, 1 class, s = 4 values under the mask; each holds 100 samples whose mean has norm ~1
const s = 4;
const mu = 0.65 / 400; // the automatic mu: 0.65 / (samples of the class over all clients)
const TP: RobustBounds = { method: 'tinyproto', mu };
const honest = (i: number): ClassUpload => new Map([[0, Float32Array.from([0.5, 0.5 + i * 0.01, 0.5, 0.5].map((x) => x * 100))]]);
// K = 2 classes, d = 8, r = 0.5: every class keeps s = 4 dimensions; only class 0 is uploaded here
const masks = makeClassMasks({ numClasses: 2, featureDim: 2 * s, ratio: 0.5, seed: 1 });
const ctx = { method: 'tinyproto' as const, numClasses: 2, featureDim: 2 * s, masks, mu };
const globalOf = (uploads: ClassUpload[]): Float32Array =>
  updateGlobalPrototypes(ctx, uploads.map((u) => clipUpload(u, TP).upload), new Map())!.prototypes.get(0)!;

test('bounds: TinyProto values and norms scale with 1/mu, FedProto not', () => {
  assert.ok(Math.abs(uploadValueBound(TP) / (FEATURE_VALUE_BOUND / mu) - 1) < 1e-12);
  assert.ok(Math.abs(uploadNormBound(TP) / (PROTOTYPE_NORM_BOUND / mu) - 1) < 1e-12);
  assert.equal(uploadValueBound({ method: 'fedproto', mu: null }), FEATURE_VALUE_BOUND);
  assert.throws(() => uploadNormBound({ method: 'tinyproto', mu: null }), code('E_ARGUMENT'));
});

test('checkUploadValues: 1e30 and NaN are rejected, honest uploads pass', () => {
  for (let i = 0; i < 4; i++) checkUploadValues(honest(i), TP);
  assert.throws(() => checkUploadValues(new Map([[0, Float32Array.from([1, 1e30, 0, 0])]]), TP, 'upload from "a3"'), (e: unknown) => code('E_VALUE_BOUND')(e) && /upload from "a3": class 0 value 1\.?\d*e\+30 at 1 exceeds the bound/.test((e as Error).message));
  assert.throws(() => checkUploadValues([{ classId: 2, values: Float32Array.from([NaN]) }], TP), code('E_NON_FINITE'));
  assert.throws(() => checkUploadValues([{ classId: 0, values: Float32Array.from([2e4]) }], { method: 'fedproto', mu: null }), code('E_VALUE_BOUND'));
});

test('clipUpload leaves honest uploads untouched (same arrays) and scales long vectors to the bound', () => {
  const h = honest(0);
  const c = clipUpload(h, TP);
  assert.equal(c.upload.get(0), h.get(0));
  assert.deepEqual(c.clipped, []);
  const long = new Map([[0, new Float32Array(s).fill(1e6)]]);
  const cl = clipUpload(long, TP);
  assert.ok(norm(cl.upload.get(0)!) <= uploadNormBound(TP));
  assert.ok(norm(cl.upload.get(0)!) > uploadNormBound(TP) * 0.999);
  assert.equal(cl.clipped.length, 1);
  assert.equal(long.get(0)![0], 1e6); // the input is not mutated
});

test('one poisoned upload: 1e30 is rejected; a large-but-plausible vector moves the global prototype by at most prototypeNormBound', () => {
  const honestGlobal = globalOf([0, 1, 2, 3].map(honest));
  assert.ok(norm(honestGlobal) < 1); // ~0.65 * the mean prototype
  // what an unchecked 1e30 would do: a global prototype of ~1.6e27, whose squared error overflows float32
  const unchecked = updateGlobalPrototypes(ctx, [honest(0), new Map([[0, new Float32Array(s).fill(1e30)]])], new Map())!.prototypes.get(0)!;
  assert.ok(unchecked[0]! ** 2 > 3.4e38);
  assert.throws(() => checkUploadValues(new Map([[0, new Float32Array(s).fill(1e30)]]), TP), code('E_VALUE_BOUND'));
  // the largest vector that passes the value check, in the worst direction (every value at the bound)
  const poison = new Map([[0, new Float32Array(s).fill(uploadValueBound(TP) * 0.999)]]);
  checkUploadValues(poison, TP);
  const poisoned = globalOf([0, 1, 2].map(honest).concat([poison]));
  const honest3 = globalOf([0, 1, 2].map(honest));
  const moved = dist(poisoned, honest3);
  // bounded: the poisoned client moves P_j by at most prototypeNormBound (here exactly that, up to rounding)
  assert.ok(moved <= PROTOTYPE_NORM_BOUND * 1.0001, `moved ${moved}`);
  assert.ok(moved > PROTOTYPE_NORM_BOUND * 0.99);
  // without clipping the same vector moves it by mu * ||poison|| = 2 * featureValueBound (here 2e4)
  const raw = updateGlobalPrototypes(ctx, [0, 1, 2].map(honest).concat([poison]), new Map())!.prototypes.get(0)!;
  assert.ok(dist(raw, honest3) > 100 * PROTOTYPE_NORM_BOUND);
  // a tighter configured bound tightens the effect in proportion
  const tight: RobustBounds = { ...TP, prototypeNormBound: 2 };
  const g = updateGlobalPrototypes(ctx, [0, 1, 2].map(honest).concat([poison]).map((u) => clipUpload(u, tight).upload), new Map())!.prototypes.get(0)!;
  assert.ok(dist(g, honest3) <= 2 * 1.0001);
  // what it cannot do: the honest clients' contributions are untouched, so P_j is still the honest sum plus at most the bound
  assert.deepEqual(clipUpload(honest(1), tight).clipped, []);
});

test('checkGlobalValues: contributor counts and norms within what the agents and clipping allow', () => {
  checkGlobalValues([{ classId: 0, values: Float32Array.from([1, 2]), contributors: 3 }], 4);
  assert.throws(() => checkGlobalValues([{ classId: 0, values: Float32Array.from([1]), contributors: 5 }], 4), code('E_VALUE_BOUND'));
  assert.throws(() => checkGlobalValues([{ classId: 0, values: Float32Array.from([1e6]), contributors: 1 }], 4), code('E_VALUE_BOUND'));
  assert.throws(() => checkGlobalValues([{ classId: 0, values: Float32Array.from([Infinity]), contributors: 1 }], 4), code('E_NON_FINITE'));
});
