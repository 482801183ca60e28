import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openAgentStore, type AgentStore, type ShardMeta } from './store.ts';
import { evaluationKey, openAgentStoreReadOnly, type AgentStoreView } from './store-view.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { isTinyProtoError, type ErrorCode } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agent-view-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const freshFile = (): string => join(dir, `agent-${++seq}.db`);
const isCode = (code: ErrorCode, re: RegExp) => (e: unknown) => {
  assert.ok(isTinyProtoError(e, code), `expected ${code}, got ${String(e)}`);
  assert.match(e.message, re);
  return true;
};

const meta: ShardMeta = {
  dataset: 'synthetic', source: 'fixture', height: 2, width: 2, channels: 1, numClasses: 3,
  mean: [0.5], std: [0.25], client: 0, clients: 2, alpha: 0.5, seed: 7, samplesPerClient: null,
};
const part = (n: number) => ({ pixels: Uint8Array.from({ length: n * 4 }, (_, i) => i), labels: Int32Array.from({ length: n }, (_, i) => i % 3) });
const state = (v: number): ModelState => ({ w: { shape: [2], data: Float32Array.from([1, v]) } });
const telemetry = (round: number): RoundTelemetry =>
  ({ experiment: 'e', agent: 'a', round, accuracy: { head: 0.25 * round, prototype: null, testCount: 3 } }) as unknown as RoundTelemetry;

/** What the agent writes, any reader of the store reads back the same. */
type Reader = Pick<AgentStoreView, 'latestCheckpoint' | 'evaluation' | 'getMeta'> & { loadShard(): ReturnType<AgentStoreView['loadShard']> };

function readContract(backend: string, makePath: () => string, reader: (store: AgentStore, path: string) => Reader): void {
  describe(`agent store reads (${backend})`, () => {
    test('checkpoints, shard, evaluations and meta read back as written', () => {
      const path = makePath();
      const s = openAgentStore(path);
      try {
        s.saveShard(meta, part(3), part(2));
        s.saveCheckpoint('e', 1, state(1), { family: 'resnet8' });
        s.saveCheckpoint('e', 2, state(2), { family: 'resnet8', featureDim: 8 });
        s.saveEvaluation('e', { round: 2, testCount: 2, accuracyHead: 0.5, accuracyPrototype: null, at: 9 });
        s.setMeta('k', 'v');
        const r = reader(s, path);
        assert.deepEqual(r.latestCheckpoint('e'), { round: 2, state: state(2), extra: { family: 'resnet8', featureDim: 8 } });
        assert.equal(r.latestCheckpoint('other'), null);
        assert.deepEqual(r.loadShard(), { meta, train: part(3), test: part(2) });
        assert.deepEqual(r.evaluation('e', 2), { round: 2, testCount: 2, accuracyHead: 0.5, accuracyPrototype: null, at: 9 });
        assert.equal(r.evaluation('e', 1), null);
        assert.equal(r.getMeta('k'), 'v');
        assert.equal(s.getMeta(evaluationKey('e', 2)) !== null, true);
        if (r !== s) (r as AgentStoreView).close();
      } finally {
        s.close();
      }
    });
  });
}

readContract(':memory:', () => ':memory:', (store) => store);
readContract('file, read-only view', freshFile, (_store, path) => openAgentStoreReadOnly(path));

describe('openAgentStoreReadOnly', () => {
  test('lists checkpoints, experiments, telemetry and evaluations of a store another connection writes', () => {
    const path = freshFile();
    const s = openAgentStore(path);
    s.saveMasks('seen', Uint8Array.from([1]));
    s.saveCheckpoint('a', 1, state(1));
    s.saveCheckpoint('a', 3, state(3));
    s.saveTelemetry('a', 3, telemetry(3));
    for (const round of [2, 1, 3]) s.saveEvaluation('a', { round, testCount: 4, accuracyHead: round / 4, accuracyPrototype: round === 1 ? null : 0.5, at: round });
    s.setMeta(`${evaluationKey('a', 4)}`, 'not json');
    const v = openAgentStoreReadOnly(path);
    try {
      assert.deepEqual(v.checkpointSummaries(), [{ experiment: 'a', round: 3 }]);
      assert.deepEqual(v.experimentsSeen(), ['a', 'seen']);
      assert.deepEqual(v.telemetryOf('a', 3), telemetry(3));
      assert.equal(v.telemetryOf('a', 2), null);
      assert.deepEqual(v.evaluations('a').map((e) => [e.round, e.accuracyHead, e.accuracyPrototype]), [[1, 0.25, null], [2, 0.5, 0.5], [3, 0.75, 0.5]]);
      assert.deepEqual(v.evaluations('b'), []);
      assert.equal(v.loadShard(), null);
      s.saveShard(meta, part(3), part(2));
      assert.deepEqual(v.loadShard('test'), { meta, train: { pixels: new Uint8Array(0), labels: new Int32Array(0) }, test: part(2) });
      assert.deepEqual(v.loadShard('meta')?.test.labels, new Int32Array(0));
      s.saveEvaluation('a', { round: 5, testCount: 4, accuracyHead: 1, accuracyPrototype: 1, at: 5 });
      assert.equal(v.evaluations('a').length, 4, 'sees what the writer commits later');
    } finally {
      v.close();
      v.close();
      s.close();
    }
  });

  test('typed errors: missing file, directory, another kind of store, closed view', () => {
    assert.throws(() => openAgentStoreReadOnly(join(dir, 'missing.db')), isCode('E_CONFIG', /missing\.db: no such file/));
    const sub = join(dir, 'sub');
    mkdirSync(sub, { recursive: true });
    assert.throws(() => openAgentStoreReadOnly(sub), isCode('E_CONFIG', /is a directory/));
    const agg = freshFile();
    openAggregatorStore(agg).close();
    assert.throws(() => openAgentStoreReadOnly(agg), isCode('E_STORE', /is a tinyproto aggregator store, not an agent store/));
    const path = freshFile();
    openAgentStore(path).close();
    const v = openAgentStoreReadOnly(path);
    v.close();
    assert.throws(() => v.evaluations('a'), isCode('E_STORE', /store is closed/));
  });
});
