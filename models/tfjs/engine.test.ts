import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { TfjsEngine } from './engine.ts';
import { engineContract } from '../../test/helpers/engine-contract.ts';

// tfjs-specific expectations; the behaviour both engines share is in ../engine-contract.ts.

let engine: TfjsEngine;

before(async () => {
  engine = await TfjsEngine.create({ backend: 'wasm' });
});

test('createEngine from models/index.ts builds a tfjs engine when asked for one', async () => {
  const { createEngine } = await import('../index.ts');
  const e = await createEngine({ engine: 'tfjs', backend: 'wasm' });
  assert.equal(e.name, 'tfjs');
  assert.equal(e.backend, 'wasm');
});

test('engine reports name, backend and memory (with the wasm heap)', () => {
  assert.equal(engine.name, 'tfjs');
  assert.equal(engine.backend, 'wasm');
  const mem = engine.memory();
  assert.ok(Number.isInteger(mem.numTensors) && mem.numTensors >= 0);
  assert.ok(mem.wasmHeapBytes !== undefined && Number.isInteger(mem.wasmHeapBytes) && mem.wasmHeapBytes > 0, `${mem.wasmHeapBytes}`);
});

engineContract('tfjs/wasm', () => TfjsEngine.create({ backend: 'wasm' }));
