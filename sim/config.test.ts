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
  assert.equal(c.engine, 'auto');
  assert.equal(c.threads, 0);
  assert.equal(c.provider, 'auto');
  assert.equal(c.backend, 'auto');
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
    [{ method: 'fedsgd' }, /invalid method: must be one of tinyproto, fedproto, local, fedavg/],
    [{ method: 'fedavg', families: ['resnet8', 'mobilenetv2'] }, /invalid families: fedavg averages weights/],
    [{ prototypeScale: 'global' }, /invalid prototypeScale: must be one of server, local/],
    [{ prototypeAggregation: 'median' }, /invalid prototypeAggregation: must be one of scaled, mean/],
    [{ clients: 0 }, /invalid clients: must be between 1/],
    [{ clients: 2.5 }, /invalid clients: must be an integer/],
    [{ alpha: 0 }, /invalid alpha/],
    [{ ratio: 1.5 }, /invalid ratio/],
    [{ lr: Number.NaN }, /invalid lr: must be a finite number/],
    [{ mu: -1 }, /invalid mu/],
    [{ families: ['vgg'] }, /unknown family vgg/],
    [{ samplesPerClient: 10, minPerClient: 20 }, /invalid minPerClient: must not exceed samplesPerClient/],
    [{ backend: 'cpu' }, /cpu backend trains at under 1 image\/s/],
    [{ backend: 'webgl' }, /invalid backend: must be one of auto, tensorflow, wasm, cpu/],
    [{ engine: 'onnx' }, /invalid engine: must be one of auto, ort, tfjs \(auto \(default\) = ort: ONNX Runtime; tfjs = TensorFlow\.js/],
    [{ engine: 'ORT' }, /invalid engine: must be one of auto, ort, tfjs/],
    [{ threads: -1 }, /invalid threads: must be between 0 and 1024/],
    [{ threads: 2.5 }, /invalid threads: must be an integer/],
    [{ threads: '4' }, /invalid threads: must be an integer/],
    [{ provider: 'rocm' }, /invalid provider: must be one of auto, cpu, cuda/],
    [{ allowCpu: 'yes' }, /invalid allowCpu: must be true or false/],
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

test('engine, threads and provider are accepted and kept', () => {
  for (const engine of ['auto', 'ort', 'tfjs'] as const) assert.equal(resolveSimConfig({ engine }).engine, engine);
  const c = resolveSimConfig({ engine: 'ort', threads: 4, provider: 'cuda' });
  assert.equal(c.threads, 4);
  assert.equal(c.provider, 'cuda');
  assert.equal(resolveSimConfig({ provider: 'cpu' }).provider, 'cpu');
  // tfjs settings stay valid whatever the engine (they are ignored by ort)
  assert.equal(resolveSimConfig({ engine: 'ort', backend: 'wasm' }).backend, 'wasm');
});
