import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatPaired, formatSpread, meanCurve, pairedDiff, spreadOf, verdict } from './accuracy-stats.ts';
import { parseVariant, pickVariants, runKey, sizeKey, variantCatalogue } from './accuracy-variants.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('spread: mean, sample std and range over seeds; nulls are skipped', () => {
  const s = spreadOf([0.9, 0.8, null, 0.7])!;
  assert.equal(s.n, 3);
  assert.ok(Math.abs(s.mean - 0.8) < 1e-12);
  assert.ok(Math.abs(s.std - 0.1) < 1e-12);
  assert.equal(s.min, 0.7);
  assert.equal(s.max, 0.9);
  assert.equal(spreadOf([null, undefined]), null);
  assert.equal(spreadOf([0.5])!.std, 0);
  assert.equal(formatSpread(s), '80.00 ± 10.00 (70.00-90.00)');
  assert.equal(formatSpread(spreadOf([0.5])), '50.00');
});

test('verdict: a difference smaller than the larger spread is a tie', () => {
  const a = spreadOf([0.9, 0.92, 0.88])!; // mean 0.90, std 0.02
  assert.equal(verdict(a, spreadOf([0.89, 0.89, 0.89])!), 'tie'); // 1 point < 2 points spread
  assert.equal(verdict(a, spreadOf([0.85, 0.85, 0.85])!), 'lead');
  assert.equal(verdict(spreadOf([0.85, 0.85, 0.85])!, a), 'trail');
  // the other method's larger spread counts too
  assert.equal(verdict(spreadOf([0.9, 0.9, 0.9])!, spreadOf([0.8, 0.9, 1.0])!), 'tie');
  // single seeds: no spread, so any difference decides
  assert.equal(verdict(spreadOf([0.9])!, spreadOf([0.89])!), 'lead');
  assert.equal(verdict(spreadOf([0.9])!, spreadOf([0.9])!), 'tie');
});

test('mean curve: runs that stopped early carry their last value; rounds before a first value do not count', () => {
  const m = meanCurve([
    { points: [{ round: 2, value: 0.5 }, { round: 4, value: 0.7 }] },
    { points: [{ round: 2, value: null }, { round: 4, value: 0.6 }, { round: 6, value: 0.8 }] },
  ]);
  assert.deepEqual(m.map((p) => p.round), [2, 4, 6]);
  assert.deepEqual(m.map((p) => p.runs), [1, 2, 2]);
  for (const [i, want] of [0.5, 0.65, 0.75].entries()) assert.ok(Math.abs(m[i]!.value - want) < 1e-12, `round ${m[i]!.round}`);
});

test('variants: NAME:field=value over SimConfig fields, typed values, list fields joined by +', () => {
  const v = parseVariant('tp-local:method=tinyproto,prototypeScale=local,ratio=0.5,families=resnet8+mobilenetv2');
  assert.equal(v.name, 'tp-local');
  assert.deepEqual(v.fields, { method: 'tinyproto', prototypeScale: 'local', ratio: 0.5, families: ['resnet8', 'mobilenetv2'] });
  assert.equal(v.spec, 'method=tinyproto, prototypeScale=local, ratio=0.5, families=resnet8+mobilenetv2');
  assert.deepEqual(parseVariant('x:method=local,mu=null,allowCpu=false').fields, { method: 'local', mu: null, allowCpu: false });
  for (const bad of ['Bad:method=local', 'x:nosuch=1', 'x:method=local,method=fedproto', 'x:seed=3,method=local', 'x:ratio=0.5', 'x:method']) {
    assert.throws(() => parseVariant(bad), (e) => isTinyProtoError(e, 'E_CONFIG'), bad);
  }
});

test('variants: the catalogue has the defaults, an extra one replaces a built-in, unknown names fail', () => {
  const cat = variantCatalogue([parseVariant('fedproto:method=fedproto,lambda=1')]);
  assert.deepEqual(pickVariants(cat, ['tinyproto', 'local']).map((v) => v.fields.method), ['tinyproto', 'local']);
  assert.equal(pickVariants(cat, ['fedproto'])[0]!.fields.lambda, 1);
  assert.equal(pickVariants(cat, ['tinyproto-r50'])[0]!.fields.ratio, 0.5);
  // tinyproto-plus-spread is the preset with another evaluation rule, and only that
  const [plus, spread] = pickVariants(cat, ['tinyproto-plus', 'tinyproto-plus-spread']);
  assert.deepEqual(spread!.fields, { ...plus!.fields, prototypeEval: 'spread' });
  assert.throws(() => pickVariants(cat, ['nope']), (e) => isTinyProtoError(e, 'E_CONFIG'));
});

test('run identity: one folder per size, one file per variant, alpha and seed', () => {
  assert.equal(sizeKey({ clients: 8, samplesPerClient: 200, maxRounds: 40, evalEvery: 2, plateau: 4, plateauDelta: 0.002 }), 'c8-n200-max40-every2-plateau4-d0.002');
  assert.equal(sizeKey({ clients: 20, samplesPerClient: null, maxRounds: 100, evalEvery: 5, plateau: 0, plateauDelta: 0.002 }), 'c20-nall-max100-every5-plateau0-d0.002');
  assert.equal(runKey('tinyproto', 0.1, 3), 'tinyproto-a0.1-s3');
});

test('the paired difference uses only the seeds both have, and counts the seeds where a >= b', () => {
  const a = new Map<number, number | null>([[1, 0.7], [2, 0.8], [3, 0.75], [4, 0.9]]);
  const b = new Map<number, number | null>([[1, 0.72], [2, 0.78], [3, 0.75], [4, null]]);
  const p = pairedDiff(a, b);
  assert.equal(p.diff?.n, 3);
  assert.ok(Math.abs(p.diff!.mean - 0) < 1e-12);
  assert.ok(Math.abs(p.diff!.std - 0.02) < 1e-12);
  assert.equal(p.atLeast, 2);
  assert.equal(formatPaired(p), '+0.00 ± 2.00 (2/3 seeds >=)');
  assert.equal(formatPaired(pairedDiff(new Map([[1, 0.5]]), new Map([[2, 0.5]]))), 'no common seed');
  assert.equal(formatPaired(pairedDiff(new Map([[1, 0.5]]), new Map([[1, 0.51]]))), '-1.00 (0/1 seeds >=)');
});
