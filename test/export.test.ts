/**
 * `tinyproto export`: a real agent (ONNX Runtime engine) trains two TinyProto rounds on a real
 * Fashion-MNIST shard over the embedded broker, into a SQLite store on file; its latest checkpoint
 * is exported while the agent still runs (the store is only read), the file loads in onnxruntime,
 * and its accuracy on the agent's test split equals the engine's own head accuracy (same argmax
 * count) and the accuracy the agent recorded in its telemetry. Then the user errors: missing
 * file, not an agent store, no checkpoint, ambiguous / unknown experiment, corrupt checkpoints,
 * each a typed error, and through the CLI a non-zero exit without a stack trace.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { startEmbeddedBroker } from '../mqtt/broker.ts';
import { Aggregator } from '../aggregator/aggregator.ts';
import { resolveExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { MqttAggregatorTransport } from '../aggregator/transport.ts';
import { Agent } from '../agent/agent.ts';
import { resolveAgentConfig } from '../agent/config.ts';
import { headCorrect } from '../learner/eval.ts';
import { loadAgentData } from '../agent/shard.ts';
import { openAgentStore, type ShardMeta } from '../agent/store.ts';
import { MqttAgentTransport } from '../agent/transport.ts';
import { OrtEngine } from '../models/ort/engine.ts';
import { loadOrt } from '../models/ort/runtime.ts';
import type { ModelSpec, ModelState } from '../models/engine.ts';
import { DEFAULT_DATA_DIR } from '../data/index.ts';
import { isTinyProtoError, type ErrorCode } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { Rng } from '../common/rng.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { exportAgentModel, runExport } from '../cli/export.ts';
import { main } from '../cli/main.ts';

const haveData = existsSync(`${DEFAULT_DATA_DIR}/train-images-idx3-ubyte.gz`);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = mkdtempSync(join(tmpdir(), 'tinyproto-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const isCode = (code: ErrorCode, re: RegExp) => (e: unknown) => {
  assert.ok(isTinyProtoError(e, code), `expected ${code}, got ${e instanceof Error ? `${(e as { code?: string }).code ?? e.name}: ${e.message}` : String(e)}`);
  assert.match(e.message, re);
  return true;
};

test('a real agent\'s checkpoint exports to ONNX and evaluates as the engine does', { skip: !haveData && 'dataset-fashion-mnist not installed', timeout: 300_000 }, async () => {
  const sub = join(dir, 'fleet');
  const broker = await startEmbeddedBroker({ port: 0 });
  const engine = await OrtEngine.create({ threads: 1 });
  const exp = resolveExperimentConfig({ experiment: 'exp-e', agents: ['agent-0'], rounds: 2, featureDim: 32, totalTrainSamples: 120, roundDeadlineMs: 120_000, minUploads: 1 });
  const aggStore = openAggregatorStore(join(sub, 'aggregator.db'));
  const aggTransport = new MqttAggregatorTransport('exp-e', { broker: broker.url, username: null, password: null, caFile: null, certFile: null, keyFile: null, mqttVersion: 'auto' });
  const aggregator = new Aggregator({ config: exp, store: aggStore, transport: aggTransport });
  const cfg = resolveAgentConfig({ id: 'agent-0', experiment: 'exp-e', broker: broker.url, client: 0, clients: 2, alpha: 1, seed: 3, samplesPerClient: 120, featureDim: 32, store: join(sub, 'agent-0.db') });
  const store = openAgentStore(cfg.store);
  const transport = new MqttAgentTransport(cfg, Agent.willMessage(cfg, 0, 'resnet8'));
  const agent = new Agent({ config: cfg, store, transport, engine });
  const telemetry: RoundTelemetry[] = [];
  agent.on('telemetry', (t: RoundTelemetry) => telemetry.push(t));
  try {
    await aggTransport.start();
    await aggregator.start();
    await agent.start();
    await transport.start();
    await aggregator.done;
    const end = Date.now() + 60_000;
    while (!telemetry.some((t) => t.round === 2) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
    await agent.idle();
    const recorded = telemetry.find((t) => t.round === 2)?.accuracy;
    assert.ok(recorded, 'the agent recorded its round-2 accuracy');

    // what the agent stores with its weights: the family and d (the rest is in the shard's metadata)
    const ckpt = store.latestCheckpoint('exp-e');
    assert.ok(ckpt);
    assert.equal(ckpt.round, 2);
    assert.deepEqual(ckpt.extra, { family: 'resnet8', featureDim: 32 });

    // the CLI, while the agent still has its store open
    const lines: string[] = [];
    assert.equal(await runExport(['--store', cfg.store, '--eval'], (s) => lines.push(s)), 0);
    const text = lines.join('\n');
    const file = join(sub, 'resnet8-round2.onnx');
    assert.ok(existsSync(file), 'default file name: <family>-round<R>.onnx next to the store');
    assert.match(text, /^experiment exp-e, round 2 \(client 0 of 2, fashion-mnist\)$/m);
    assert.match(text, /^family +resnet8: input 28x28x1, d 32, K 10$/m);
    assert.match(text, /^params +[\d,]+$/m);
    assert.match(text, new RegExp(`^wrote +${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\([\\d.]+ KiB\\)$`, 'm'));
    assert.match(text, /^eval +\d+\/\d+ of the agent's test split: accuracy [\d.]+% \(exported ONNX\), [\d,]+ images\/s$/m);
    assert.match(text, /^agent +accuracy [\d.]+% \(head, recorded in its telemetry for round 2, \d+ images\)$/m);

    // the file is a standalone ONNX model
    const ort = await loadOrt();
    const session = await ort.InferenceSession.create(file);
    try {
      assert.deepEqual(session.inputNames, ['x']);
      assert.deepEqual([...session.outputNames].sort(), ['features', 'logits']);
    } finally {
      await session.release();
    }

    // accuracy: the exported model, the engine's embed head on the agent's test split (read by the
    // agent's own loader from its own store), and the agent's telemetry all agree exactly
    const out = join(sub, 'nested', 'model.onnx');
    const r = await exportAgentModel({ db: cfg.store, out, evaluate: true });
    assert.equal(r.file, out);
    assert.equal(statSync(out).size, r.fileBytes);
    assert.equal(r.experiment, 'exp-e');
    assert.equal(r.round, 2);
    assert.equal(r.featureDimSource, 'checkpoint');
    assert.deepEqual({ ...r.spec, inputShape: [...r.spec.inputShape] }, { family: 'resnet8', inputShape: [28, 28, 1], featureDim: 32, numClasses: 10, seed: r.spec.seed });
    const data = loadAgentData(cfg, store, silentLogger);
    assert.ok(data.fromCache);
    const model = engine.createModel(r.spec);
    try {
      assert.equal(r.paramCount, model.paramCount);
      model.setState(ckpt.state);
      const emb = await model.embed(data.testX, data.testY.length);
      const engineCorrect = headCorrect(emb.logits, data.testY, 10);
      const ev = r.evaluation!;
      assert.equal(ev.count, data.testY.length);
      assert.ok(ev.count > 0);
      assert.equal(ev.correct, engineCorrect, 'same argmax count as the engine');
      assert.equal(ev.accuracy, engineCorrect / data.testY.length);
      assert.ok(ev.imagesPerSecond > 0);
      assert.deepEqual(ev.recorded, { accuracy: recorded.head, testCount: recorded.testCount, source: 'telemetry' });
      assert.equal(recorded.head, ev.accuracy, 'the agent recorded the same accuracy for round 2');
    } finally {
      model.dispose();
    }
    // the same spec the agent's Learner built: its initial weights are the engine's for that seed
    assert.equal(r.spec.seed, Rng.derive(3, 'model:0').nextUint32());

    // --experiment picks explicitly; an unknown one lists what exists
    assert.equal((await exportAgentModel({ db: cfg.store, experiment: 'exp-e', out: join(sub, 'again.onnx') })).round, 2);
    await assert.rejects(exportAgentModel({ db: cfg.store, experiment: 'nope' }), isCode('E_CONFIG', /no checkpoint of experiment "nope"; checkpoints exist for exp-e \(round 2\)/));
  } finally {
    await agent.stop();
    await transport.close();
    store.close();
    await aggregator.stop();
    await aggTransport.close();
    aggStore.close();
    await broker.close();
  }
});

// ---------------------------------------------------------------------------------------------
// error cases, on small synthetic stores

const SPEC: ModelSpec = { family: 'resnet8', inputShape: [8, 8, 1], featureDim: 16, numClasses: 4, seed: 5 };
const META: ShardMeta = { dataset: 'synthetic', source: 'test', height: 8, width: 8, channels: 1, numClasses: 4, mean: [0.5], std: [0.25], client: 1, clients: 3, alpha: 1, seed: 9, samplesPerClient: null };

function part(n: number, seed: number): { pixels: Uint8Array; labels: Int32Array } {
  return { pixels: Uint8Array.from({ length: n * 64 }, (_, i) => (i * 37 + seed * 11) & 255), labels: Int32Array.from({ length: n }, (_, i) => (i + seed) % 4) };
}

let statePromise: Promise<ModelState> | null = null;
async function freshState(): Promise<ModelState> {
  statePromise ??= OrtEngine.create({ threads: 1 }).then((e) => {
    const m = e.createModel(SPEC);
    const s = m.getState();
    m.dispose();
    return s;
  });
  return statePromise;
}

/** A store with the synthetic shard and checkpoints as given. */
async function makeStore(name: string, checkpoints: { experiment: string; round: number; state?: ModelState; extra?: Record<string, unknown> }[], shard = true): Promise<string> {
  const path = join(dir, `${name}.db`);
  const s = openAgentStore(path);
  try {
    if (shard) s.saveShard(META, part(12, 1), part(6, 2));
    for (const c of checkpoints) s.saveCheckpoint(c.experiment, c.round, c.state ?? (await freshState()), c.extra ?? { family: 'resnet8', featureDim: 16 });
  } finally {
    s.close();
  }
  return path;
}

test('synthetic store: exports, evaluates, and reads d from the weights for older checkpoints', async () => {
  const db = await makeStore('ok', [{ experiment: 'e1', round: 3 }]);
  const r = await exportAgentModel({ db, evaluate: true });
  assert.equal(r.file, join(dir, 'resnet8-round3.onnx'));
  assert.deepEqual([...r.spec.inputShape], [8, 8, 1]);
  assert.equal(r.spec.numClasses, 4);
  assert.equal(r.evaluation?.count, 6);
  assert.equal(r.evaluation?.recorded, null);
  const lines: string[] = [];
  assert.equal(await runExport(['--store', db, '--eval', '--out', join(dir, 'ok.onnx')], (s) => lines.push(s)), 0);
  assert.match(lines.join('\n'), /agent +no accuracy recorded for round 3/);

  const old = await makeStore('old', [{ experiment: 'e1', round: 1, extra: { family: 'resnet8' } }]);
  const o = await exportAgentModel({ db: old });
  assert.equal(o.featureDimSource, 'weights');
  assert.equal(o.spec.featureDim, 16);
});

test('typed errors: missing file, not an agent store, no checkpoint, ambiguous or unknown experiment', async () => {
  await assert.rejects(exportAgentModel({ db: join(dir, 'missing.db') }), isCode('E_CONFIG', /missing\.db: no such file/));
  await assert.rejects(exportAgentModel({ db: dir }), isCode('E_CONFIG', /is a directory/));

  const agg = join(dir, 'agg.db');
  openAggregatorStore(agg).close();
  await assert.rejects(exportAgentModel({ db: agg }), isCode('E_STORE', /is a tinyproto aggregator store, not an agent store/));
  const junk = join(dir, 'junk.db');
  writeFileSync(junk, 'this is not sqlite at all, just text '.repeat(200));
  await assert.rejects(exportAgentModel({ db: junk }), isCode('E_STORE', /not a tinyproto agent store/));

  const empty = join(dir, 'empty.db');
  const s = openAgentStore(empty);
  s.saveMasks('seen-1', new Uint8Array([1, 2, 3]));
  s.close();
  await assert.rejects(exportAgentModel({ db: empty }), isCode('E_CONFIG', /no checkpoint in this agent store \(experiments seen: seen-1\)/));

  const two = await makeStore('two', [
    { experiment: 'a', round: 2 },
    { experiment: 'b', round: 5 },
  ]);
  await assert.rejects(exportAgentModel({ db: two }), isCode('E_CONFIG', /several experiments have checkpoints, pick one with --experiment: (b \(round 5\), a \(round 2\)|a \(round 2\), b \(round 5\))$/));
  await assert.rejects(exportAgentModel({ db: two, experiment: 'c' }), isCode('E_CONFIG', /no checkpoint of experiment "c"; checkpoints exist for/));
  const b = await exportAgentModel({ db: two, experiment: 'b', out: join(dir, 'b.onnx') });
  assert.equal(b.round, 5);

  await assert.rejects(exportAgentModel({ db: await makeStore('noshard', [{ experiment: 'e', round: 1 }], false) }), isCode('E_STORE', /no cached data shard/));
});

test('typed errors: corrupt checkpoints', async () => {
  const state = await freshState();
  // a parameter missing
  const { ['head.bias']: _dropped, ...missing } = state;
  await assert.rejects(exportAgentModel({ db: await makeStore('missing-param', [{ experiment: 'e', round: 4, state: missing }]) }), isCode('E_SHAPE', /round 4 does not fit resnet8 \(input 8x8x1, d 16, K 4\): setState: missing parameter head\.bias/));
  // the wrong d recorded
  await assert.rejects(exportAgentModel({ db: await makeStore('wrong-d', [{ experiment: 'e', round: 1, extra: { family: 'resnet8', featureDim: 20 } }]) }), isCode('E_SHAPE', /does not fit resnet8/));
  // no family
  await assert.rejects(exportAgentModel({ db: await makeStore('no-family', [{ experiment: 'e', round: 1, extra: {} }]) }), isCode('E_STORE', /corrupt checkpoint .*no model family/));
  // non-finite weights
  const nan: ModelState = { ...state, 'head.bias': { shape: [4], data: new Float32Array([0, NaN, 0, 0]) } };
  await assert.rejects(exportAgentModel({ db: await makeStore('nan', [{ experiment: 'e', round: 1, state: nan }]) }), isCode('E_NON_FINITE', /head\.bias has non-finite values/));
  // damaged rows
  const bad = await makeStore('bad-manifest', [{ experiment: 'e', round: 1 }]);
  const raw = new Database(bad);
  raw.prepare("UPDATE checkpoint SET manifest = 'not json'").run();
  raw.close();
  await assert.rejects(exportAgentModel({ db: bad }), isCode('E_STORE', /corrupt checkpoint \(experiment e, round 1\): .*manifest: invalid JSON/));
  const short = await makeStore('short-data', [{ experiment: 'e', round: 1 }]);
  const raw2 = new Database(short);
  raw2.prepare('UPDATE checkpoint SET data = substr(data, 1, 400)').run();
  raw2.close();
  await assert.rejects(exportAgentModel({ db: short }), isCode('E_STORE', /corrupt checkpoint .*bad entry/));
});

test('CLI: usage and user errors exit non-zero with one line on stderr, no stack trace', async () => {
  const lines: string[] = [];
  assert.equal(await runExport(['--help'], (s) => lines.push(s)), 0);
  assert.match(lines.join(''), /Usage: tinyproto export --store AGENT_DB/);
  await assert.rejects(runExport([], () => {}), isCode('E_CONFIG', /--store AGENT_DB is required/));
  await assert.rejects(runExport(['x.db'], () => {}), isCode('E_CONFIG', /unexpected argument "x\.db"/));

  const help: string[] = [];
  const origWrite = process.stdout.write.bind(process.stdout);
  process.stdout.write = ((s: string) => (help.push(String(s)), true)) as typeof process.stdout.write;
  try {
    assert.equal(await main(['help']), 0);
  } finally {
    process.stdout.write = origWrite;
  }
  assert.match(help.join(''), /export +an agent's latest checkpoint as an inference ONNX model/);

  const run = (args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'cli', 'main.ts'), 'export', ...args], { cwd: ROOT, encoding: 'utf8' });
  const missing = run(['--store', join(dir, 'missing.db')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^tinyproto export: .*missing\.db: no such file .*\[E_CONFIG\]\n$/);
  const bad = await makeStore('cli-bad', [{ experiment: 'e', round: 1, extra: {} }]);
  const corrupt = run(['--store', bad]);
  assert.equal(corrupt.status, 1);
  assert.match(corrupt.stderr, /^tinyproto export: .*corrupt checkpoint .*\[E_STORE\]\n$/);
  assert.doesNotMatch(corrupt.stderr + missing.stderr, /\n\s+at /);
  // --db: the deprecated alias of --store, which warns and then does the same
  const alias = run(['--db', join(dir, 'missing.db')]);
  assert.equal(alias.status, 2);
  assert.match(alias.stderr, /export --db is deprecated: use --store/);
  assert.match(alias.stderr, /missing\.db: no such file .*\[E_CONFIG\]\n$/);
  const warned: string[] = [];
  await assert.rejects(runExport(['--db', join(dir, 'missing.db')], () => {}, { warn: (m) => void warned.push(m) }), isCode('E_CONFIG', /missing\.db/));
  assert.deepEqual(warned, ['export --db is deprecated: use --store (the same flag as agent and server)']);
  await assert.rejects(runExport(['--db', 'a.db', '--store', 'b.db'], () => {}), isCode('E_CONFIG', /give only --store/));
});
