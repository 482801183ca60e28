import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertConfigError } from '../test/helpers/assert.ts';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AGENT_DEFAULTS, agentConfigFromEnv, envName, resolveAgentConfig } from './config.ts';
import { agentConfigFromFile } from './config-file.ts';

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

test('precedence: defaults < TOML file < TINYPROTO_* environment < flags, in one place (loadAgentConfig)', async () => {
  const { loadAgentConfig } = await import('./config-file.ts');
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agent-toml-'));
  try {
    const path = join(dir, 'agent.toml');
    writeFileSync(
      path,
      [
        'id = "board-7"',
        'fleet = "lab"',
        'broker = "mqtts://aggregator.local:8883"',
        'ca = "/etc/tinyproto/ca.crt"',
        'state-dir = "/var/lib/tinyproto"',
        'engine = "ort"',
        'threads = 2',
        'board = "rpi4b"',
        '',
        '[datasets]',
        'fashion-mnist = "/usr/share/datasets/fashion-mnist"',
        'cifar10 = "/srv/cifar-10"',
      ].join('\n'),
    );
    const fileOnly = loadAgentConfig({ file: path, env: {}, flags: {} });
    assert.equal(fileOnly.mode, 'fleet');
    assert.deepEqual([fileOnly.config.id, fileOnly.config.fleet, fileOnly.config.caFile, fileOnly.config.stateDir, fileOnly.config.threads], ['board-7', 'lab', '/etc/tinyproto/ca.crt', '/var/lib/tinyproto', 2]);
    assert.deepEqual(fileOnly.config.datasets, { 'fashion-mnist': '/usr/share/datasets/fashion-mnist', cifar10: '/srv/cifar-10' });
    assert.equal(fileOnly.config.reconnectMaxMs, AGENT_DEFAULTS.reconnectMaxMs, 'not in the file: the default');
    // the environment beats the file, flags beat both
    const env = { TINYPROTO_THREADS: '3', TINYPROTO_ID: 'board-8', TINYPROTO_STATE_DIR: '/tmp/state', TINYPROTO_DATASETS: 'cifar10=/mnt/cifar' };
    const withEnv = loadAgentConfig({ file: path, env, flags: {} }).config;
    assert.deepEqual([withEnv.id, withEnv.threads, withEnv.stateDir, withEnv.datasets], ['board-8', 3, '/tmp/state', { cifar10: '/mnt/cifar' }]);
    const withFlags = loadAgentConfig({ file: path, env, flags: { threads: 1, stateDir: '/srv/s' } }).config;
    assert.deepEqual([withFlags.id, withFlags.threads, withFlags.stateDir], ['board-8', 1, '/srv/s']);
    // --experiment anywhere: the single-experiment mode, as before
    assert.equal(loadAgentConfig({ file: path, env: { TINYPROTO_EXPERIMENT: 'exp-1' }, flags: {} }).mode, 'single');
    assert.equal(loadAgentConfig({ file: null, env: {}, flags: {} }).mode, 'single');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('config file: unknown keys are errors naming the key; TOML syntax errors name the line; JSON field names still work', async () => {
  const { agentConfigFromFile } = await import('./config-file.ts');
  const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agent-toml-'));
  try {
    const toml = join(dir, 'agent.toml');
    writeFileSync(toml, 'id = "b1"\nbrokr = "mqtt://x:1883"\n');
    assertConfigError(() => agentConfigFromFile(toml), new RegExp(`^${toml.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: unknown key "brokr"; known keys: id, experiment, fleet, state-dir, broker,`));
    writeFileSync(toml, 'id = "b1"\nid = "b2"\n');
    assertConfigError(() => agentConfigFromFile(toml), /agent\.toml:2:\d+: not valid TOML/);
    writeFileSync(toml, 'samples-per-client = "all"\nthreads = "2"\n');
    assert.deepEqual(agentConfigFromFile(toml), { samplesPerClient: null, threads: '2' });
    assertConfigError(() => resolveAgentConfig(agentConfigFromFile(toml)), /invalid threads: must be an integer/);
    writeFileSync(toml, '[datasets]\n"bad name" = "/x"\n');
    assertConfigError(() => resolveAgentConfig(agentConfigFromFile(toml)), /invalid datasets: data set name "bad name" must be 1 to 32 characters/);
    writeFileSync(toml, 'data = 3\n');
    assertConfigError(() => resolveAgentConfig(agentConfigFromFile(toml)), /invalid dataDir: must be a non-empty string \(got 3\)/);
    writeFileSync(toml, 'fleet = "no/slash"\n');
    assertConfigError(() => resolveAgentConfig(agentConfigFromFile(toml)), /invalid fleet id "no\/slash"/);
    const json = join(dir, 'agent.json');
    writeFileSync(json, JSON.stringify({ caFile: '/ca.pem', 'state-dir': '/s', stateDir: '/t' }));
    assertConfigError(() => agentConfigFromFile(json), /agent\.json: "stateDir" sets stateDir a second time/);
    writeFileSync(json, JSON.stringify({ caFile: '/ca.pem', experiment: 'e1' }));
    assert.deepEqual(agentConfigFromFile(json), { caFile: '/ca.pem', experiment: 'e1' });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('datasets from the environment or --datasets: name=dir pairs; a bad pair is named', () => {
  assert.deepEqual(agentConfigFromEnv({ TINYPROTO_DATASETS: 'a=/x, b=/y' }), { datasets: { a: '/x', b: '/y' } });
  assertConfigError(() => agentConfigFromEnv({ TINYPROTO_DATASETS: 'a' }), /invalid datasets: expected name=directory\[,name=directory\.\.\.\], got "a"/);
});

test('the learner improvement options: paper defaults, from the environment, validated as setup fields', () => {
  assert.equal(resolveAgentConfig({}).prototypeLoss, 'full');
  assert.equal(resolveAgentConfig({}).prototypeEval, 'full');
  const env = agentConfigFromEnv({ TINYPROTO_PROTOTYPE_LOSS: 'masked', TINYPROTO_PROTOTYPE_EVAL: 'masked' });
  assert.deepEqual(env, { prototypeLoss: 'masked', prototypeEval: 'masked' });
  assert.equal(resolveAgentConfig(env).prototypeLoss, 'masked');
  assert.throws(() => resolveAgentConfig({ prototypeEval: 'l2' as never }), /prototypeEval/);
  assert.equal(resolveAgentConfig({}).prototypeScale, 'server');
  assert.equal(resolveAgentConfig(agentConfigFromEnv({ TINYPROTO_PROTOTYPE_SCALE: 'local' })).prototypeScale, 'local');
  assert.throws(() => resolveAgentConfig({ prototypeScale: 'global' as never }), /prototypeScale/);
  assert.equal(resolveAgentConfig({}).prototypeContrast, 0);
  assert.equal(resolveAgentConfig(agentConfigFromEnv({ TINYPROTO_PROTOTYPE_CONTRAST: '1' })).prototypeContrast, 1);
  assert.throws(() => agentConfigFromEnv({ TINYPROTO_PROTOTYPE_CONTRAST: 'lots' }), /invalid prototypeContrast/);
  assert.throws(() => resolveAgentConfig({ prototypeContrast: -1 }), /prototypeContrast/);
  assert.equal(resolveAgentConfig({}).clipNorm, 0);
  assert.equal(resolveAgentConfig(agentConfigFromEnv({ TINYPROTO_CLIP_NORM: '10' })).clipNorm, 10);
  assert.throws(() => resolveAgentConfig({ clipNorm: -1 }), /clipNorm/);
});
