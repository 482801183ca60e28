/** The engine flags of `simulate`, `agent` and `fleet`: parsed, validated, and passed on. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertConfigError } from '../test/helpers/assert.ts';
import { parseSimulateArgs, SIMULATE_HELP, engineText } from './simulate.ts';
import { agentConfigFromArgs, AGENT_HELP } from './agent.ts';
import { fleetOptions, FLEET_HELP } from './fleet.ts';

test('simulate: --engine, --threads, --provider reach the config; defaults auto / 0 / auto', () => {
  const d = parseSimulateArgs([]).config;
  assert.deepEqual([d.engine, d.threads, d.provider], ['auto', 0, 'auto']);
  const c = parseSimulateArgs(['--engine', 'tfjs', '--threads', '2', '--provider', 'cpu', '--backend', 'wasm']).config;
  assert.deepEqual([c.engine, c.threads, c.provider, c.backend], ['tfjs', 2, 'cpu', 'wasm']);
  assertConfigError(() => parseSimulateArgs(['--engine', 'onnx']), /invalid engine: must be one of auto, ort, tfjs/);
  assertConfigError(() => parseSimulateArgs(['--threads', 'x']), /--threads expects a number/);
  assertConfigError(() => parseSimulateArgs(['--threads=-1']), /invalid threads: must be between 0 and 1024/);
  assertConfigError(() => parseSimulateArgs(['--provider', 'rocm']), /invalid provider: must be one of auto, cpu, cuda/);
  assert.match(SIMULATE_HELP, /--engine E .*auto \(default\) = ort: ONNX Runtime; tfjs = TensorFlow\.js \(tfjs-node when installed, else wasm\)/);
  assert.match(SIMULATE_HELP, /--threads N/);
  assert.equal(d.trainThreads, 0);
  assert.equal(parseSimulateArgs(['--train-threads', '2']).config.trainThreads, 2);
  assertConfigError(() => parseSimulateArgs(['--train-threads=-1']), /invalid trainThreads/);
  assert.match(SIMULATE_HELP, /--train-threads N/);
  assert.match(SIMULATE_HELP, /--provider P/);
});

test('simulate: the setup line names engine/backend, and ort threads', () => {
  const m = { client: 0, family: 'resnet8' as const, paramCount: 1, flopsPerImage: 1 };
  assert.equal(engineText({ models: [{ ...m, engine: 'ort', backend: 'cpu' }], threads: 4 }), 'ort/cpu (4 threads per worker)');
  assert.equal(engineText({ models: [{ ...m, engine: 'ort', backend: 'cuda' }], threads: 1 }), 'ort/cuda (1 thread per worker)');
  assert.equal(engineText({ models: [{ ...m, engine: 'tfjs', backend: 'wasm' }], threads: 4 }), 'tfjs/wasm');
});

test('agent: --engine, --threads, --provider, over the environment', () => {
  const { config } = agentConfigFromArgs(['--engine', 'ort', '--threads', '3', '--provider', 'cuda'], { TINYPROTO_ENGINE: 'tfjs', TINYPROTO_THREADS: '1' });
  assert.deepEqual([config.engine, config.threads, config.provider], ['ort', 3, 'cuda']);
  assert.equal(agentConfigFromArgs([], { TINYPROTO_ENGINE: 'tfjs' }).config.engine, 'tfjs');
  assertConfigError(() => agentConfigFromArgs(['--engine', 'onnx'], {}), /invalid engine/);
  assertConfigError(() => agentConfigFromArgs(['--threads', '1.5'], {}), /--threads expects an integer/);
  assert.match(AGENT_HELP, /--engine V +ort \| tfjs \| auto: auto \(default\) = ort: ONNX Runtime/);
  assert.equal(agentConfigFromArgs([], {}).config.trainThreads, 0);
  assert.equal(agentConfigFromArgs(['--train-threads', '2'], { TINYPROTO_TRAIN_THREADS: '4' }).config.trainThreads, 2);
  assert.equal(agentConfigFromArgs([], { TINYPROTO_TRAIN_THREADS: '4' }).config.trainThreads, 4);
  assertConfigError(() => agentConfigFromArgs(['--train-threads=-1'], {}), /invalid trainThreads/);
  assert.match(AGENT_HELP, /--train-threads V +ort: worker threads each training batch is split over/);
});

test('fleet: --engine, --threads, --provider are validated and kept for the agents', () => {
  const d = fleetOptions([]).options;
  assert.deepEqual([d.engine, d.threads, d.provider], ['auto', 0, 'auto']);
  const o = fleetOptions(['--engine', 'tfjs', '--backend', 'wasm', '--threads', '2', '--provider', 'cpu']).options;
  assert.deepEqual([o.engine, o.threads, o.provider, o.backend], ['tfjs', 2, 'cpu', 'wasm']);
  assertConfigError(() => fleetOptions(['--engine', 'onnx']), /invalid engine: must be one of auto, ort, tfjs/);
  assertConfigError(() => fleetOptions(['--threads=-1']), /invalid threads/);
  assertConfigError(() => fleetOptions(['--provider', 'gpu']), /invalid provider/);
  assertConfigError(() => fleetOptions(['--backend', 'cpu']), /cpu backend trains at under 1 image\/s/);
  assert.match(FLEET_HELP, /--engine V/);
  assert.equal(d.trainThreads, 0);
  assert.equal(fleetOptions(['--train-threads', '2']).options.trainThreads, 2);
  assertConfigError(() => fleetOptions(['--train-threads=-1']), /invalid trainThreads/);
  assert.match(FLEET_HELP, /--train-threads V/);
});
