import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReportedSamples, chooseMu, totalsDisagreement, uploadBoundMu } from './train-samples.ts';
import { muFromTotals } from '../method/aggregate.ts';
import { isTinyProtoError } from '../common/errors.ts';

const agents = ['a1', 'a2', 'a3', 'a4'];
const cfg = { method: 'tinyproto', mu: 'auto', muFactor: 0.65, numClasses: 10, totalTrainSamples: null, muFrom: 'reported', agents } as const;

test('N: the mean reported count times the agents until every agent reported, then the sum', () => {
  const r = new ReportedSamples(4);
  assert.equal(r.estimate(), null);
  r.note('a1', 100);
  r.note('a2', 300);
  assert.deepEqual(r.estimate(), { total: 800, complete: false, reportedAgents: 2, reportedSum: 400 });
  r.note('a2', 300); // the same count again: nothing changes
  r.note('a3', 50);
  r.note('a4', null); // an upload without a count adds nothing
  assert.equal(r.estimate()!.total, (450 * 4) / 3);
  r.note('a4', 7);
  assert.deepEqual(r.estimate(), { total: 457, complete: true, reportedAgents: 4, reportedSum: 457 });
});

test('a count that changes is refused with E_TRAIN_SAMPLES naming both', () => {
  const r = new ReportedSamples(2);
  r.note('a1', 100);
  r.check('a1', 100);
  r.check('a1', null);
  r.check('a2', 5);
  assert.throws(() => r.check('a1', 101), (e: unknown) => isTinyProtoError(e, 'E_TRAIN_SAMPLES') && /reports 101 training samples, but reported 100 earlier/.test((e as Error).message));
  assert.throws(() => r.note('a1', 99), (e: unknown) => isTinyProtoError(e, 'E_TRAIN_SAMPLES'));
  assert.equal(r.get('a1'), 100);
});

test('chooseMu: fixed, configured before any count, reported / estimated after, muFrom configured', () => {
  const r = new ReportedSamples(4);
  assert.equal(chooseMu({ ...cfg, method: 'fedproto' }, r), null);
  assert.equal(chooseMu(cfg, r), null);
  assert.deepEqual(chooseMu({ ...cfg, mu: 0.5 }, r)?.source, 'fixed');
  const conf = { ...cfg, totalTrainSamples: 4000 };
  assert.deepEqual([chooseMu(conf, r)!.mu, chooseMu(conf, r)!.source], [muFromTotals(4000, 10), 'configured']);
  r.note('a1', 100);
  assert.deepEqual([chooseMu(conf, r)!.totalTrainSamples, chooseMu(conf, r)!.source], [400, 'estimated']);
  for (const a of ['a2', 'a3', 'a4']) r.note(a, 100);
  const c = chooseMu(conf, r)!;
  assert.deepEqual([c.mu, c.totalTrainSamples, c.source, c.reportedTotal, c.configured], [muFromTotals(400, 10), 400, 'reported', 400, 4000]);
  assert.equal(chooseMu({ ...conf, muFrom: 'configured' }, r)!.totalTrainSamples, 4000);
});

test('the warning: beyond 10% only, with both figures and the mu in use', () => {
  const r = new ReportedSamples(2);
  r.note('a1', 500);
  const est = totalsDisagreement(chooseMu({ ...cfg, agents: ['a1', 'a2'], totalTrainSamples: 5000 }, r));
  assert.match(est!, /^configured total training samples 5000 disagrees with the 1000 the agents report \(estimated: the mean of the 1 counts reported so far times the agents\) by more than 10%: using 1000 \(--mu-from configured keeps 5000\), mu = /);
  r.note('a2', 500);
  const two = { ...cfg, agents: ['a1', 'a2'] };
  assert.equal(totalsDisagreement(chooseMu({ ...two, totalTrainSamples: 1100 }, r)), null);
  assert.equal(totalsDisagreement(chooseMu({ ...two, totalTrainSamples: 900 }, r)), null);
  assert.match(totalsDisagreement(chooseMu({ ...two, totalTrainSamples: 1101 }, r))!, /1101 disagrees with the 1000 the agents report \(sum of 2 agents' counts\) by more than 10%: using 1000 .*mu = 0\.00650000$/);
  assert.equal(totalsDisagreement(chooseMu(two, r)), null);
  assert.equal(totalsDisagreement(chooseMu({ ...two, mu: 0.1, totalTrainSamples: 5 }, r)), null);
});

test('an upload is bounded with the intake mu, else its own count times the agents; none at all is E_TRAIN_SAMPLES', () => {
  assert.equal(uploadBoundMu(cfg, 0.25, null, 'a1'), 0.25);
  assert.equal(uploadBoundMu(cfg, null, 100, 'a1'), muFromTotals(400, 10));
  assert.equal(uploadBoundMu({ ...cfg, method: 'fedproto' }, null, null, 'a1'), null);
  assert.throws(() => uploadBoundMu(cfg, null, null, 'a1'), (e: unknown) => isTinyProtoError(e, 'E_TRAIN_SAMPLES') && /upload from "a1" reports no training-sample count/.test((e as Error).message));
});
