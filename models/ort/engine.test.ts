import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { OrtEngine } from './engine.ts';
import { engineContract, spec } from '../../test/helpers/engine-contract.ts';
import { isTinyProtoError } from '../../common/errors.ts';
import { cudaProviderInstalled } from './runtime.ts';

// ONNX Runtime-specific expectations; the behaviour both engines share is in ../engine-contract.ts.

let engine: OrtEngine;
/** The provider 'auto' picks: CPU unless onnxruntime-node's CUDA provider is installed. */
const autoBackend = cudaProviderInstalled() ? 'cuda' : 'cpu';

before(async () => {
  engine = await OrtEngine.create({ threads: 1 });
});

test('engine reports name, backend and memory', () => {
  assert.equal(engine.name, 'ort');
  assert.equal(engine.backend, autoBackend);
  assert.equal(engine.threads, 1);
  const mem = engine.memory();
  assert.ok(Number.isInteger(mem.numTensors) && mem.numTensors >= 0);
  assert.equal(mem.wasmHeapBytes, undefined);
});

test('memory() counts the state arrays of live models', () => {
  const start = engine.memory();
  const m = engine.createModel(spec('resnet8', [8, 8, 1]));
  try {
    const state = m.getState();
    const entries = Object.values(state);
    const mem = engine.memory();
    assert.equal(mem.numTensors - start.numTensors, entries.length);
    assert.equal(mem.numBytes - start.numBytes, entries.reduce((a, s) => a + s.data.byteLength, 0));
  } finally {
    m.dispose();
  }
  assert.deepEqual(engine.memory(), start);
});

test('createEngine() from models/index.ts builds an ort engine by default', async () => {
  const { createEngine } = await import('../index.ts');
  const e = await createEngine();
  assert.equal(e.name, 'ort');
  assert.equal(e.backend, autoBackend);
  const cpu = await createEngine({ engine: 'ort', provider: 'cpu', threads: 1 });
  assert.equal(cpu.name, 'ort');
  assert.equal(cpu.backend, 'cpu');
  const auto = await createEngine({ engine: 'auto', threads: 1 });
  assert.equal(auto.name, 'ort');
});

test("createEngine({ engine: 'tfjs', backend: 'wasm' }) builds a tfjs engine", async () => {
  const { createEngine } = await import('../index.ts');
  const e = await createEngine({ engine: 'tfjs', backend: 'wasm' });
  assert.equal(e.name, 'tfjs');
  assert.equal(e.backend, 'wasm');
});

test('bad thread counts are E_CONFIG', async () => {
  await assert.rejects(OrtEngine.create({ threads: -1 }), (e) => isTinyProtoError(e, 'E_CONFIG'));
  await assert.rejects(OrtEngine.create({ threads: 1.5 }), (e) => isTinyProtoError(e, 'E_CONFIG'));
  const { createEngine } = await import('../index.ts');
  await assert.rejects(createEngine({ threads: -1 }), (e) => isTinyProtoError(e, 'E_CONFIG'));
});

engineContract('ort', () => OrtEngine.create({ threads: 1 }));
