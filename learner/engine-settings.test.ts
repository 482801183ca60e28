import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AUTO_ORT_THREADS, AUTO_TRAIN_THREADS, engineLabel, trainThreadsPerEngine, engineOptions, threadsPerEngine, validateEngineSettings, type EngineSettings } from './engine-settings.ts';

const base: EngineSettings = { engine: 'auto', backend: 'auto', allowCpu: false, threads: 0, provider: 'auto' };

test('threadsPerEngine: a set value wins; 0 is auto, one thread', () => {
  assert.equal(threadsPerEngine(6), 6);
  assert.equal(threadsPerEngine(1), 1);
  assert.equal(threadsPerEngine(0), AUTO_ORT_THREADS);
  assert.equal(AUTO_ORT_THREADS, 1);
});

test('engineOptions passes every field, threads 0 as the auto value', () => {
  assert.deepEqual(engineOptions(base), { engine: 'auto', backend: 'auto', allowCpu: false, provider: 'auto', threads: AUTO_ORT_THREADS, trainThreads: 1 });
  assert.equal(engineOptions({ ...base, trainThreads: 0 }).trainThreads, AUTO_TRAIN_THREADS);
  assert.equal(engineOptions({ ...base, trainThreads: 3 }).trainThreads, 3);
  const o = engineOptions({ ...base, engine: 'ort', threads: 3, provider: 'cpu' });
  assert.equal(o.threads, 3);
  assert.equal(o.engine, 'ort');
  assert.equal(o.provider, 'cpu');
  assert.equal(engineOptions(base).logger, undefined);
});

test('trainThreadsPerEngine: a set value wins; 0 or absent is auto, one thread', () => {
  assert.equal(trainThreadsPerEngine(2), 2);
  assert.equal(trainThreadsPerEngine(0), AUTO_TRAIN_THREADS);
  assert.equal(trainThreadsPerEngine(undefined), AUTO_TRAIN_THREADS);
  assert.equal(AUTO_TRAIN_THREADS, 1);
});

test('engineLabel names engine and backend', () => {
  assert.equal(engineLabel({ name: 'ort', backend: 'cpu' }), 'ort/cpu');
  assert.equal(engineLabel({ name: 'tfjs', backend: 'wasm' }), 'tfjs/wasm');
});

test('validateEngineSettings: E_CONFIG naming the field, with the hint for the cpu backend', () => {
  validateEngineSettings(base, 'x');
  validateEngineSettings({ ...base, engine: 'tfjs', backend: 'cpu', allowCpu: true }, 'x');
  const bad: [Partial<EngineSettings>, RegExp][] = [
    [{ engine: 'onnx' as never }, /^invalid engine: must be one of auto, ort, tfjs/],
    [{ backend: 'webgl' as never }, /^invalid backend: must be one of auto, tensorflow, wasm, cpu/],
    [{ backend: 'cpu' }, /cpu backend trains at under 1 image\/s; pass --allow-cpu to use it anyway/],
    [{ threads: 1025 }, /^invalid threads: must be between 0 and 1024/],
    [{ trainThreads: -1 }, /^invalid trainThreads: must be between 0 and 1024/],
    [{ provider: 'gpu' as never }, /^invalid provider: must be one of auto, cpu, cuda/],
  ];
  for (const [over, re] of bad) {
    assert.throws(() => validateEngineSettings({ ...base, ...over }, 'pass --allow-cpu'), (e: unknown) => {
      const err = e as { code?: string; message?: string };
      assert.equal(err.code, 'E_CONFIG');
      assert.match(err.message ?? '', re);
      return true;
    });
  }
});
