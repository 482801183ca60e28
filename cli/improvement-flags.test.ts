import { test } from 'node:test';
import assert from 'node:assert/strict';
import { improvementFlags } from './improvement-flags.ts';
import { TINYPROTO_PLUS } from '../method/experiment.ts';
import { parseSimulateArgs } from './simulate.ts';
import { SIM_DEFAULTS } from '../sim/config.ts';

test('improvement flags: absent flags give nothing; --plus is the preset, explicit flags override it', () => {
  assert.deepEqual(improvementFlags({}), {});
  assert.deepEqual(improvementFlags({ plus: true }), { ...TINYPROTO_PLUS });
  assert.deepEqual(improvementFlags({ plus: true, 'prototype-eval': 'cosine', 'stale-rounds': '3' }), { ...TINYPROTO_PLUS, prototypeEval: 'cosine', staleRounds: 3 });
  assert.throws(() => improvementFlags({ 'warmup-rounds': 'two' }), /--warmup-rounds expects/);
});

test('simulate takes the improvement flags into its config; without them the config is the default', () => {
  const plain = parseSimulateArgs([]).config;
  for (const k of ['prototypeLoss', 'offMaskWeight', 'classBalance', 'prototypeContrast', 'prototypeEval', 'warmupRounds', 'lambdaRule', 'lambdaRelative', 'lambdaFinal', 'clipNorm', 'staleRounds'] as const) assert.equal(plain[k], SIM_DEFAULTS[k]);
  const c = parseSimulateArgs(['--prototype-loss', 'masked', '--lambda-rule', 'relative', '--lambda-relative', '0.5', '--warmup-rounds', '2']).config;
  assert.equal(c.prototypeLoss, 'masked');
  assert.equal(c.lambdaRule, 'relative');
  assert.equal(c.lambdaRelative, 0.5);
  assert.equal(c.warmupRounds, 2);
  const off = parseSimulateArgs(['--plus', '--off-mask-weight', '0.1', '--prototype-eval', 'spread']).config;
  assert.deepEqual([off.offMaskWeight, off.prototypeEval], [0.1, 'spread']);
  assert.throws(() => parseSimulateArgs(['--off-mask-weight', '2']), /offMaskWeight/);
  assert.equal(parseSimulateArgs(['--plus', '--class-balance', '1']).config.classBalance, 1);
  assert.throws(() => parseSimulateArgs(['--class-balance', '1.5']), /classBalance/);
  assert.throws(() => parseSimulateArgs(['--class-balance', 'all']), /--class-balance expects/);
  assert.equal(parseSimulateArgs(['--plus', '--lambda-final', '0.2']).config.lambdaFinal, 0.2);
  assert.throws(() => parseSimulateArgs(['--lambda-final', '2']), /lambdaFinal/);
  assert.equal(parseSimulateArgs(['--plus', '--prototype-contrast', '1']).config.prototypeContrast, 1);
  assert.throws(() => parseSimulateArgs(['--prototype-contrast=-1']), /prototypeContrast/);
  assert.throws(() => parseSimulateArgs(['--off-mask-weight', 'lots']), /--off-mask-weight expects/);
  assert.throws(() => parseSimulateArgs(['--prototype-eval', 'l1']), /prototypeEval/);
  const plus = parseSimulateArgs(['--plus']).config;
  assert.deepEqual([plus.prototypeLoss, plus.prototypeEval, plus.prototypeScale], ['masked', 'masked', 'local']);
  assert.equal(parseSimulateArgs(['--plus', '--prototype-scale', 'server']).config.prototypeScale, 'server');
});
