import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { openAgentStore, AGENT_SCHEMA_VERSION, type AgentStore, type ShardMeta } from './store.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { openAggregatorStore } from '../aggregator/store.ts';
import { isTinyProtoError } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agent-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const freshFile = (): string => join(dir, `agent-${++seq}.db`);

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const isStoreError = (re?: RegExp) => (e: unknown) => {
  assert.ok(isTinyProtoError(e, 'E_STORE'), `expected E_STORE, got ${String(e)}`);
  if (re) assert.match(e.message, re);
  return true;
};

const meta: ShardMeta = {
  dataset: 'synthetic',
  source: 'fixture',
  height: 2,
  width: 3,
  channels: 1,
  numClasses: 4,
  mean: [0.5],
  std: [0.25],
  client: 1,
  clients: 3,
  alpha: 0.5,
  seed: 42,
  samplesPerClient: null,
};
const part = (n: number, fill: number) => ({
  pixels: Uint8Array.from({ length: n * 6 }, (_, i) => (i * 7 + fill) & 255),
  labels: Int32Array.from({ length: n }, (_, i) => (i + fill) % 4),
});

const state = (v: number): ModelState => ({
  'conv/kernel': { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, v]) },
  'dense/bias': { shape: [2], data: Float32Array.from([-0.5, v]) },
  scalar: { shape: [], data: Float32Array.from([v * 2]) },
});

/** The contract: the same function runs for ':memory:' and a temp file. */
function agentStoreContract(backend: string, makePath: () => string, persistent: boolean): void {
  describe(`AgentStore contract (${backend})`, () => {
    const withStore = (fn: (s: AgentStore, path: string) => void) => () => {
      const path = makePath();
      const s = openAgentStore(path);
      try {
        fn(s, path);
      } finally {
        s.close();
      }
    };
    /** For the file backend: close and reopen; for memory: keep the same store. */
    const reopen = (s: AgentStore, path: string): AgentStore => {
      if (!persistent) return s;
      s.close();
      return openAgentStore(path);
    };

    test('shard: empty, save, load, replace, persists', () => {
      const path = makePath();
      let s = openAgentStore(path);
      try {
        assert.equal(s.path, path);
        assert.equal(s.loadShard(), null);
        const train = part(5, 1);
        const test = part(2, 9);
        s.saveShard(meta, train, test);
        s = reopen(s, path);
        const got = s.loadShard();
        assert.ok(got);
        assert.deepEqual(got.meta, meta);
        assert.deepEqual(got.train, train);
        assert.deepEqual(got.test, test);
        const meta2 = { ...meta, client: 2, samplesPerClient: 3 };
        s.saveShard(meta2, part(3, 4), part(0, 0));
        const got2 = s.loadShard();
        assert.ok(got2);
        assert.deepEqual(got2.meta, meta2);
        assert.deepEqual(got2.train, part(3, 4));
        assert.equal(got2.test.labels.length, 0);
        assert.equal(got2.test.pixels.length, 0);
      } finally {
        s.close();
      }
    });

    test('shard: a failing save (mismatched test lengths) rolls back and keeps the previous shard', withStore((s) => {
      s.saveShard(meta, part(4, 2), part(2, 3));
      const badTest = { pixels: new Uint8Array(5), labels: new Int32Array(2) };
      assert.throws(() => s.saveShard({ ...meta, client: 0 }, part(6, 1), badTest), isStoreError(/shard test: 5 pixel bytes, expected 2\*2\*3\*1 = 12/));
      const badLabel = { pixels: new Uint8Array(6), labels: Int32Array.from([4]) };
      assert.throws(() => s.saveShard(meta, part(1, 1), badLabel), isStoreError(/label 4/));
      assert.throws(() => s.saveShard({ ...meta, mean: [0.1, 0.2] }, part(1, 1), part(1, 1)), isStoreError(/mean\/std/));
      const got = s.loadShard();
      assert.ok(got);
      assert.deepEqual(got.meta, meta);
      assert.deepEqual(got.train, part(4, 2));
      assert.deepEqual(got.test, part(2, 3));
    }));

    test('masks: per experiment, replaced on save', withStore((s, path) => {
      assert.equal(s.loadMasks('e1'), null);
      s.saveMasks('e1', bytes(1, 2, 3));
      s.saveMasks('e2', bytes(9));
      s = reopen(s, path);
      assert.deepEqual(s.loadMasks('e1'), bytes(1, 2, 3));
      s.saveMasks('e1', bytes(4));
      assert.deepEqual(s.loadMasks('e1'), bytes(4));
      assert.deepEqual(s.loadMasks('e2'), bytes(9));
      s.close();
    }));

    test('global prototypes and round announcements: latest by round, per experiment', withStore((s) => {
      assert.equal(s.latestGlobal('e'), null);
      assert.equal(s.latestRound('e'), null);
      s.saveGlobal('e', 2, bytes(2));
      s.saveGlobal('e', 5, bytes(5));
      s.saveGlobal('e', 3, bytes(3)); // late arrival does not win
      s.saveGlobal('other', 9, bytes(9));
      assert.deepEqual(s.latestGlobal('e'), { round: 5, bytes: bytes(5) });
      s.saveGlobal('e', 5, bytes(5, 5)); // same round: replaced
      assert.deepEqual(s.latestGlobal('e'), { round: 5, bytes: bytes(5, 5) });
      s.saveRound('e', 1, bytes(10));
      s.saveRound('e', 0, bytes(11));
      assert.deepEqual(s.latestRound('e'), { round: 1, bytes: bytes(10) });
      assert.equal(s.latestRound('other'), null);
      assert.throws(() => s.saveRound('e', -1, bytes()), isStoreError(/invalid round/));
      assert.throws(() => s.saveGlobal('', 1, bytes()), isStoreError(/invalid experiment/));
    }));

    test('checkpoints: round-trip ModelState + extra, keeps only latest 2', withStore((s, path) => {
      assert.equal(s.latestCheckpoint('e'), null);
      s.saveCheckpoint('e', 1, state(1), { epoch: 3, lr: 0.01 });
      s.saveCheckpoint('e', 2, state(2));
      s.saveCheckpoint('e', 3, state(3), { note: 'x' });
      s.saveCheckpoint('f', 7, state(7));
      s = reopen(s, path);
      const c = s.latestCheckpoint('e');
      assert.ok(c);
      assert.equal(c.round, 3);
      assert.deepEqual(c.state, state(3));
      assert.deepEqual(c.extra, { note: 'x' });
      assert.equal(s.latestCheckpoint('f')?.round, 7);
      assert.deepEqual(s.latestCheckpoint('f')?.extra, {});
      s.close();
      // only rounds 2 and 3 remain for 'e'
      if (persistent) {
        const db = new Database(path, { readonly: true });
        const rows = db.prepare("SELECT round FROM checkpoint WHERE experiment = 'e' ORDER BY round").all();
        db.close();
        assert.deepEqual(rows, [{ round: 2 }, { round: 3 }]);
      }
      s = openAgentStore(persistent ? path : ':memory:');
      assert.throws(
        () => s.saveCheckpoint('e', 1, { w: { shape: [2, 2], data: new Float32Array(3) } }),
        isStoreError(/tensor w has shape \[2,2\] but 3 values/),
      );
      s.close();
    }));

    test('outbox: queued once, never replaced, ordered by round, acked rows stay as history', withStore((s, path) => {
      assert.deepEqual(s.pendingUploads(), []);
      assert.equal(s.uploadState('e', 1), null);
      assert.equal(s.enqueueUpload('e', 2, bytes(2)), 'queued');
      assert.equal(s.enqueueUpload('e', 1, bytes(1)), 'queued');
      assert.equal(s.enqueueUpload('f', 1, bytes(7)), 'queued');
      assert.equal(s.enqueueUpload('e', 2, bytes(99)), 'exists');
      assert.equal(s.uploadState('e', 2), 'pending');
      assert.equal(s.markAttempt('e', 2), true);
      assert.equal(s.markAttempt('e', 2), true);
      assert.equal(s.markAttempt('e', 42), false);

      s = reopen(s, path);
      const all = s.pendingUploads();
      assert.deepEqual(
        all.map((u) => [u.experiment, u.round, [...u.bytes], u.attempts]),
        [
          ['e', 1, [1], 0],
          ['f', 1, [7], 0],
          ['e', 2, [2], 2],
        ],
      );
      for (const u of all) assert.ok(Number.isFinite(u.createdAt) && u.createdAt > 0);
      assert.deepEqual(s.pendingUploads('f').map((u) => u.round), [1]);

      assert.equal(s.markAcked('e', 1), true);
      assert.equal(s.markAcked('e', 1), true); // idempotent
      assert.equal(s.markAcked('e', 42), false);
      assert.equal(s.uploadState('e', 1), 'acked');
      // an acked upload is history: still 'exists', never re-sent with new content
      assert.equal(s.enqueueUpload('e', 1, bytes(100)), 'exists');
      s = reopen(s, path);
      assert.deepEqual(s.pendingUploads('e').map((u) => [u.round, [...u.bytes]]), [[2, [2]]]);
      assert.equal(s.uploadState('e', 1), 'acked');
      s.close();
    }));

    test('progress and meta', withStore((s, path) => {
      assert.equal(s.lastCompletedRound('e'), 0);
      s.setLastCompletedRound('e', 3);
      s.setLastCompletedRound('f', 1);
      assert.equal(s.getMeta('agentId'), null);
      s.setMeta('agentId', 'board-7');
      s.setMeta('agentId', 'board-8');
      s.setMeta('empty', '');
      s = reopen(s, path);
      assert.equal(s.lastCompletedRound('e'), 3);
      assert.equal(s.lastCompletedRound('f'), 1);
      assert.equal(s.getMeta('agentId'), 'board-8');
      assert.equal(s.getMeta('empty'), '');
      s.close();
    }));

    test('telemetry: saved per round, pending until sent, survives a reopen', () => {
      const path = makePath();
      let s = openAgentStore(path);
      try {
        const rec = (round: number) => ({ experiment: 'e1', agent: 'a1', round, family: 'resnet8', board: 'rpi4b' }) as unknown as RoundTelemetry;
        assert.deepEqual(s.telemetry('e1'), []);
        s.saveTelemetry('e1', 2, rec(2));
        s.saveTelemetry('e1', 1, rec(1));
        s.saveTelemetry('e2', 1, { ...rec(1), experiment: 'e2' });
        assert.deepEqual(s.pendingTelemetry('e1').map((r) => r.round), [1, 2]);
        s.markTelemetrySent('e1', 1);
        s = reopen(s, path);
        assert.deepEqual(s.pendingTelemetry('e1').map((r) => r.round), [2]);
        assert.deepEqual(s.telemetry('e1').map((r) => r.board), ['rpi4b', 'rpi4b']);
        assert.equal(s.telemetry('e2').length, 1);
      } finally {
        s.close();
      }
    });

    test('close is idempotent and later calls throw E_STORE', () => {
      const s = openAgentStore(makePath());
      s.close();
      s.close();
      assert.throws(() => s.getMeta('x'), isStoreError(/store is closed/));
    });
  });
}

agentStoreContract(':memory:', () => ':memory:', false);
agentStoreContract('temp file', freshFile, true);

describe('AgentStore file specifics', () => {
  test('file uses WAL, schema version stamped, parent dirs created', () => {
    const path = join(dir, 'nested', 'deeper', 'agent.db');
    const s = openAgentStore(path);
    s.setMeta('k', 'v');
    s.close();
    assert.ok(existsSync(path));
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), AGENT_SCHEMA_VERSION);
    db.close();
  });

  test('a file of random bytes is rejected with E_STORE naming the file', () => {
    const path = join(dir, 'random.db');
    writeFileSync(path, randomBytes(8192));
    assert.throws(() => openAgentStore(path), isStoreError(/random\.db: not a tinyproto agent store \(file is not a database\)/));
  });

  test('a foreign SQLite database and an aggregator store are rejected', () => {
    const foreign = join(dir, 'foreign.db');
    const db = new Database(foreign);
    db.exec('CREATE TABLE notes (x)');
    db.close();
    assert.throws(() => openAgentStore(foreign), isStoreError(/foreign\.db: not a tinyproto agent store/));
    const agg = join(dir, 'agg.db');
    openAggregatorStore(agg).close();
    assert.throws(() => openAgentStore(agg), isStoreError(/agg\.db: is a tinyproto aggregator store, cannot open it as the agent store/));
  });

  test('a store from a newer schema version is rejected', () => {
    const path = freshFile();
    openAgentStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${AGENT_SCHEMA_VERSION + 1}`);
    db.close();
    assert.throws(
      () => openAgentStore(path),
      isStoreError(new RegExp(`schema version ${AGENT_SCHEMA_VERSION + 1}, newer than supported version ${AGENT_SCHEMA_VERSION}`)),
    );
  });

  test('shard pixels are split into chunk rows and reassembled', () => {
    const path = freshFile();
    const s = openAgentStore(path, { shardChunkBytes: 5 });
    const train = part(3, 2); // 18 bytes -> 4 rows
    s.saveShard(meta, train, part(1, 3)); // 6 bytes -> 2 rows
    s.close();
    const db = new Database(path, { readonly: true });
    const rows = db.prepare('SELECT part, count(*) AS n FROM shard_chunk GROUP BY part ORDER BY part').all();
    db.close();
    assert.deepEqual(rows, [
      { part: 'test', n: 2 },
      { part: 'train', n: 4 },
    ]);
    const s2 = openAgentStore(path); // default chunk size reads any chunking
    assert.deepEqual(s2.loadShard()?.train, train);
    s2.close();
  });

  test('a tampered shard (pixel bytes shorter than count*h*w*c) fails on load', () => {
    const path = freshFile();
    const s = openAgentStore(path);
    s.saveShard(meta, part(3, 1), part(1, 1));
    s.close();
    const db = new Database(path);
    db.prepare("UPDATE shard_chunk SET bytes = x'0102' WHERE part = 'train'").run();
    db.close();
    const s2 = openAgentStore(path);
    assert.throws(() => s2.loadShard(), isStoreError(/shard train: 2 pixel bytes stored, expected 3\*2\*3\*1 = 18/));
    s2.close();
  });
});
