import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertConfigError } from '../test/helpers/assert.ts';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_DEFAULTS, agentConfigFromEnv, agentConfigFromFile, envName, resolveAgentConfig } from './config.ts';

test('engine defaults: auto engine (ONNX Runtime), threads 0, provider auto; frozen', () => {
  const c = resolveAgentConfig();
  assert.equal(c.engine, 'auto');
  assert.equal(c.threads, 0);
  assert.equal(c.provider, 'auto');
  assert.equal(c.backend, 'auto');
  assert.equal(c.allowCpu, false);
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(AGENT_DEFAULTS));
});

test('engine fields are accepted and kept', () => {
  const c = resolveAgentConfig({ engine: 'tfjs', backend: 'wasm' });
  assert.equal(c.engine, 'tfjs');
  assert.equal(c.backend, 'wasm');
  const o = resolveAgentConfig({ engine: 'ort', threads: 2, provider: 'cuda' });
  assert.deepEqual([o.engine, o.threads, o.provider], ['ort', 2, 'cuda']);
});

test('bad engine values give E_CONFIG errors naming the field', () => {
  assertConfigError(() => resolveAgentConfig({ engine: 'onnxruntime' as never }), /invalid engine: must be one of auto, ort, tfjs \(auto \(default\) = ort: ONNX Runtime/);
  assertConfigError(() => resolveAgentConfig({ threads: -2 }), /invalid threads: must be between 0 and 1024/);
  assertConfigError(() => resolveAgentConfig({ threads: 1.5 }), /invalid threads: must be an integer/);
  assertConfigError(() => resolveAgentConfig({ provider: 'tensorrt' as never }), /invalid provider: must be one of auto, cpu, cuda/);
  assertConfigError(() => resolveAgentConfig({ backend: 'webgpu' as never }), /invalid backend: must be one of auto, tensorflow, wasm, cpu/);
  assertConfigError(() => resolveAgentConfig({ backend: 'cpu' }), /cpu backend trains at under 1 image\/s; set allowCpu \(--allow-cpu\)/);
  assert.equal(resolveAgentConfig({ engine: 'tfjs', backend: 'cpu', allowCpu: true }).backend, 'cpu');
});

test('engine fields come from TINYPROTO_* environment variables, threads as a number', () => {
  assert.equal(envName('threads'), 'TINYPROTO_THREADS');
  const env = { TINYPROTO_ENGINE: 'tfjs', TINYPROTO_THREADS: '3', TINYPROTO_PROVIDER: 'cpu', TINYPROTO_ALLOW_CPU: 'true' };
  const fromEnv = agentConfigFromEnv(env);
  assert.deepEqual(fromEnv, { engine: 'tfjs', threads: 3, provider: 'cpu', allowCpu: true });
  assert.equal(resolveAgentConfig(fromEnv).threads, 3);
  assertConfigError(() => agentConfigFromEnv({ TINYPROTO_THREADS: 'many' }), /invalid threads: expected a number, got "many"/);
  assertConfigError(() => resolveAgentConfig(agentConfigFromEnv({ TINYPROTO_ENGINE: 'onnx' })), /invalid engine/);
});

test('engine fields come from a JSON config file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agent-config-'));
  try {
    const path = join(dir, 'agent.json');
    writeFileSync(path, JSON.stringify({ engine: 'ort', threads: 2, provider: 'cpu' }));
    const c = resolveAgentConfig(agentConfigFromFile(path));
    assert.deepEqual([c.engine, c.threads, c.provider], ['ort', 2, 'cpu']);
    writeFileSync(path, JSON.stringify({ threads: '2' }));
    assertConfigError(() => resolveAgentConfig(agentConfigFromFile(path)), /invalid threads: must be an integer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
