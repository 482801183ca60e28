import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { adoptStoredRun, loadStoredRuns, planRun, sizeDir, storedRun } from './accuracy-runs.ts';
import { parseVariant } from './accuracy-variants.ts';
import { setupKey } from '../sim/checkpoint.ts';

const size = { clients: 4, samplesPerClient: 40, maxRounds: 6, evalEvery: 2, plateau: 3, plateauDelta: 0.002 };

test("a planned run has the paper's settings, the size's, then the variant's, and its own checkpoint", () => {
  const v = parseVariant('tp-r50:method=tinyproto,ratio=0.5,lambda=1');
  const p = planRun('/tmp/out', size, v, 0.5, 2, null);
  assert.equal(p.config.method, 'tinyproto');
  assert.equal(p.config.ratio, 0.5);
  assert.equal(p.config.lambda, 1);
  assert.equal(p.config.featureDim, 500);
  assert.equal(p.config.clients, 4);
  assert.equal(p.config.samplesPerClient, 40);
  assert.equal(p.config.alpha, 0.5);
  assert.equal(p.config.seed, 2);
  assert.equal(p.config.rounds, 6);
  assert.equal(p.config.evalEvery, 2);
  assert.equal(p.config.plateau, 3);
  assert.equal(p.config.resume, true);
  assert.equal(p.file, '/tmp/out/accuracy-runs/c4-n40-max6-every2-plateau3-d0.002/tp-r50-a0.5-s2.json');
  assert.equal(p.checkpoint, '/tmp/out/accuracy-runs/c4-n40-max6-every2-plateau3-d0.002/tp-r50-a0.5-s2.ckpt.sqlite');
});

test('a stored run counts only for the same setup; every stored run of the size is loaded', () => {
  const out = mkdtempSync(join(tmpdir(), 'tinyproto-accbench-'));
  try {
    const p = planRun(out, size, parseVariant('fedproto:method=fedproto'), 0.1, 1, null);
    assert.equal(storedRun(p), null);
    assert.deepEqual(loadStoredRuns(out, size), []);
    mkdirSync(sizeDir(out, size), { recursive: true });
    writeFileSync(p.file, JSON.stringify({ variant: 'fedproto', setup: setupKey(p.config) }));
    assert.equal(storedRun(p)?.variant, 'fedproto');
    // the same name with other settings is run again
    const other = planRun(out, size, parseVariant('fedproto:method=fedproto,lambda=1'), 0.1, 1, null);
    assert.equal(other.file, p.file);
    assert.equal(storedRun(other), null);
    assert.equal(loadStoredRuns(out, size).length, 1);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a larger cap adopts a run that stopped by the plateau rule under a smaller one, never one that hit its cap', () => {
  const out = mkdtempSync(join(tmpdir(), 'tinyproto-accbench-'));
  try {
    const big = { ...size, maxRounds: 12 };
    const v = parseVariant('fedproto:method=fedproto');
    const small = planRun(out, size, v, 0.1, 1, null);
    const p = planRun(out, big, v, 0.1, 1, null);
    assert.equal(adoptStoredRun(out, p), null);
    mkdirSync(sizeDir(out, size), { recursive: true });
    const stored = { variant: 'fedproto', setup: setupKey(small.config), size, stopped: { reason: 'rounds', round: 6 }, rounds: [] };
    writeFileSync(small.file, JSON.stringify(stored));
    assert.equal(adoptStoredRun(out, p), null, 'stopped at its cap: a larger cap could go on');
    writeFileSync(small.file, JSON.stringify({ ...stored, setup: 'other' }));
    assert.equal(adoptStoredRun(out, p), null, 'another setup');
    writeFileSync(small.file, JSON.stringify({ ...stored, stopped: { reason: 'plateau', round: 6 } }));
    const adopted = adoptStoredRun(out, p);
    assert.equal(adopted?.reusedFrom, 'c4-n40-max6-every2-plateau3-d0.002');
    assert.deepEqual(adopted?.size, big);
    assert.equal(storedRun(p)?.reusedFrom, 'c4-n40-max6-every2-plateau3-d0.002', 'stored under the larger size');
    // another size (eval every 3) is never adopted
    const every3 = planRun(out, { ...big, evalEvery: 3 }, v, 0.1, 1, null);
    assert.equal(adoptStoredRun(out, every3), null);
    // a cap that is not a multiple of evalEvery evaluated its last round: only a stop before it counts
    const odd = { ...size, maxRounds: 7 };
    const oddPlan = planRun(out, odd, v, 0.5, 1, null);
    mkdirSync(sizeDir(out, odd), { recursive: true });
    writeFileSync(oddPlan.file, JSON.stringify({ ...stored, setup: setupKey(oddPlan.config), size: odd, stopped: { reason: 'plateau', round: 7 } }));
    assert.equal(adoptStoredRun(out, planRun(out, big, v, 0.5, 1, null)), null);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});

test('a run that reached its cap unstopped is the run of no plateau rule, or a longer one, at that cap', () => {
  const out = mkdtempSync(join(tmpdir(), 'tinyproto-accbench-'));
  try {
    const v = parseVariant('local:method=local');
    const ruled = planRun(out, size, v, 0.5, 2, null);
    mkdirSync(sizeDir(out, size), { recursive: true });
    const stored = { variant: 'local', setup: setupKey(ruled.config), size, stopped: { reason: 'rounds', round: 6 }, rounds: [] };
    writeFileSync(ruled.file, JSON.stringify(stored));
    const off = { ...size, plateau: 0 };
    const adopted = adoptStoredRun(out, planRun(out, off, v, 0.5, 2, null));
    assert.equal(adopted?.reusedFrom, 'c4-n40-max6-every2-plateau3-d0.002');
    assert.deepEqual(adopted?.size, off);
    assert.notEqual(adoptStoredRun(out, planRun(out, { ...size, plateau: 5 }, v, 0.5, 2, null)), null, 'a longer plateau, the same delta');
    assert.equal(adoptStoredRun(out, planRun(out, { ...size, plateau: 2 }, v, 0.5, 2, null)), null, 'a shorter plateau could have stopped it');
    assert.equal(adoptStoredRun(out, planRun(out, { ...size, plateau: 5, plateauDelta: 0.01 }, v, 0.5, 2, null)), null, 'another delta');
    assert.equal(adoptStoredRun(out, planRun(out, { ...off, maxRounds: 8 }, v, 0.5, 2, null)), null, 'a larger cap goes on');
    // a run that stopped by its plateau rule is not the run of no rule at the same cap
    writeFileSync(ruled.file, JSON.stringify({ ...stored, stopped: { reason: 'plateau', round: 4 } }));
    // (the copies adopted above are runs of their sizes too: drop them)
    for (const s of [off, { ...size, plateau: 5 }]) rmSync(sizeDir(out, s), { recursive: true, force: true });
    assert.equal(adoptStoredRun(out, planRun(out, off, v, 0.5, 2, null)), null);
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
