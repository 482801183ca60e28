import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSimConfig, SIM_DEFAULTS } from './config.ts';

test('defaults are the paper settings and frozen', () => {
  const c = resolveSimConfig();
  assert.equal(c.featureDim, 500);
  assert.equal(c.ratio, 0.1);
  assert.equal(c.lambda, 10);
  assert.equal(c.batchSize, 32);
  assert.equal(c.lr, 0.01);
  assert.equal(c.localEpochs, 1);
  assert.equal(c.clients, 20);
  assert.equal(c.alpha, 0.1);
  assert.equal(c.trainFraction, 0.75);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(SIM_DEFAULTS));
});

test('options override defaults; undefined keeps the default', () => {
  const c = resolveSimConfig({ method: 'fedproto', clients: 4, rounds: undefined });
  assert.equal(c.method, 'fedproto');
  assert.equal(c.clients, 4);
  assert.equal(c.rounds, SIM_DEFAULTS.rounds);
});

test('invalid values give E_CONFIG errors naming the field', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ method: 'fedavg' }, /invalid method: must be one of tinyproto, fedproto, local/],
    [{ clients: 0 }, /invalid clients: must be between 1/],
    [{ clients: 2.5 }, /invalid clients: must be an integer/],
    [{ alpha: 0 }, /invalid alpha/],
    [{ ratio: 1.5 }, /invalid ratio/],
    [{ lr: Number.NaN }, /invalid lr: must be a finite number/],
    [{ mu: -1 }, /invalid mu/],
    [{ families: ['vgg'] }, /unknown family vgg/],
    [{ samplesPerClient: 10, minPerClient: 20 }, /invalid minPerClient: must not exceed samplesPerClient/],
    [{ backend: 'cpu' }, /cpu backend trains at under 1 image\/s/],
    [{ colour: 'red' }, /invalid colour: unknown option/],
  ];
  for (const [opts, re] of bad) {
    assert.throws(() => resolveSimConfig(opts as never), (e: unknown) => {
      const err = e as { code?: string; message?: string };
      assert.equal(err.code, 'E_CONFIG');
      assert.match(err.message ?? '', re);
      return true;
    });
  }
});

test('the cpu backend is accepted only when explicitly allowed', () => {
  assert.equal(resolveSimConfig({ backend: 'cpu', allowCpu: true }).backend, 'cpu');
});
