import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';
import { openAggregatorStore, AGGREGATOR_SCHEMA, AGGREGATOR_SCHEMA_VERSION, type AggregatorStore } from './store.ts';
import { openAgentStore } from '../agent/store.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { openStoreDb, closeDb } from '../storage/sqlite.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

const dir = mkdtempSync(join(tmpdir(), 'tinyproto-agg-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;
const freshFile = (): string => join(dir, `agg-${++seq}.db`);

const bytes = (...xs: number[]): Uint8Array => Uint8Array.from(xs);
const isStoreError = (re?: RegExp) => (e: unknown) => {
  assert.ok(isTinyProtoError(e, 'E_STORE'), `expected E_STORE, got ${String(e)}`);
  if (re) assert.match(e.message, re);
  return true;
};

const config = { model: 'cnn', rounds: 5, tinyproto: { s: 64, k: 10 } };

function telemetryRecord(experiment: string, agent: string, round: number, joules = 1.5): RoundTelemetry {
  return {
    experiment,
    agent,
    round,
    family: 'resnet8',
    board: 'rpi4b',
    phases: { dataLoad: 0, train: 2, prototypes: 0.1, encode: 0.01, upload: 0.02, waitGlobal: 0.5, evaluate: 0.3, round: 2.93 },
    memory: { peakRssBytes: 200e6, heapUsedBytes: 50e6, engineBytes: 10e6, engineTensors: 42, wasmHeapBytes: null, freeSystemBytes: 1e9 },
    cpu: { userSeconds: 2.5, systemSeconds: 0.1 },
    net: { bytesSent: 1200, bytesReceived: 900 },
    temperatureC: null,
    energy: { joules, source: 'estimate', detail: 'rpi4b' },
    accuracy: { head: 0.5, prototype: round > 1 ? 0.6 : null, testCount: 100 },
    at: 1000 + round,
  };
}

/** The contract: the same function runs for ':memory:' and a temp file. */
function aggregatorStoreContract(backend: string, makePath: () => string, persistent: boolean): void {
  describe(`AggregatorStore contract (${backend})`, () => {
    const withStore = (fn: (s: AggregatorStore, path: string) => void) => () => {
      const path = makePath();
      const s = openAggregatorStore(path);
      try {
        fn(s, path);
      } finally {
        s.close();
      }
    };
    const reopen = (s: AggregatorStore, path: string): AggregatorStore => {
      if (!persistent) return s;
      s.close();
      return openAggregatorStore(path);
    };

    test('experiments: create (idempotent), conflict, current round, finish, persists', withStore((s, path) => {
      assert.equal(s.path, path);
      assert.equal(s.getExperiment('exp'), null);
      const before = Date.now();
      s.createExperiment('exp', config, bytes(1, 2, 3));
      // same config with different key order and same masks: no-op
      s.createExperiment('exp', { tinyproto: { k: 10, s: 64 }, rounds: 5, model: 'cnn' }, bytes(1, 2, 3));
      assert.throws(() => s.createExperiment('exp', { ...config, rounds: 6 }, bytes(1, 2, 3)), isStoreError(/different config/));
      assert.throws(() => s.createExperiment('exp', config, null), isStoreError(/different masks/));
      s.createExperiment('nomasks', {}, null);
      s.setCurrentRound('exp', 4);
      s = reopen(s, path);
      const e = s.getExperiment('exp');
      assert.ok(e);
      assert.deepEqual({ ...e, createdAt: 0 }, { id: 'exp', config, masksBytes: bytes(1, 2, 3), createdAt: 0, status: 'running', currentRound: 4 });
      assert.ok(e.createdAt >= before && e.createdAt <= Date.now());
      assert.equal(s.getExperiment('nomasks')?.masksBytes, null);
      s.finishExperiment('exp');
      s.finishExperiment('exp');
      assert.equal(s.getExperiment('exp')?.status, 'finished');
      assert.throws(() => s.setCurrentRound('nope', 1), isStoreError(/unknown experiment "nope"/));
      assert.throws(() => s.finishExperiment('nope'), isStoreError(/unknown experiment/));
      s.close();
    }));

    test('rounds: open (advances current round, idempotent), close atomically, latestGlobal, list', withStore((s, path) => {
      s.createExperiment('exp', config, null);
      assert.equal(s.getRound('exp', 1), null);
      assert.equal(s.latestGlobal('exp'), null);
      s.openRound('exp', 1, bytes(0xa1), 60_000);
      s.openRound('exp', 1, bytes(0xa1), 60_000); // same announcement: no-op
      assert.throws(() => s.openRound('exp', 1, bytes(0xa2), 60_000), isStoreError(/already open with a different announcement/));
      assert.throws(() => s.openRound('nope', 1, bytes(1), 1), isStoreError(/unknown experiment/));
      assert.equal(s.getExperiment('exp')?.currentRound, 1);
      const r1 = s.getRound('exp', 1);
      assert.ok(r1);
      assert.deepEqual(
        { ...r1, openedAt: 0 },
        { round: 1, status: 'open', openedAt: 0, deadlineMs: 60_000, closedAt: null, announcementBytes: bytes(0xa1), globalBytes: null, uploads: 0, summary: null },
      );
      s.recordUpload('exp', 1, 'a', bytes(1), 10);
      s.recordUpload('exp', 1, 'b', bytes(2), 11);
      s.closeRound('exp', 1, bytes(0x61), { accepted: 2, mu: 0.5 });
      assert.throws(() => s.closeRound('exp', 1, bytes(9), {}), isStoreError(/already closed/));
      assert.throws(() => s.closeRound('exp', 7, bytes(9), {}), isStoreError(/never opened/));
      assert.throws(() => s.openRound('exp', 1, bytes(0xa1), 60_000), isStoreError(/already closed/));
      s.openRound('exp', 2, bytes(0xa2), 30_000);
      s.closeRound('exp', 2, null, { accepted: 0 }); // no global (nobody uploaded)
      s.openRound('exp', 3, bytes(0xa3), 30_000);

      s = reopen(s, path);
      const c1 = s.getRound('exp', 1);
      assert.ok(c1);
      assert.equal(c1.status, 'closed');
      assert.ok(c1.closedAt !== null && c1.closedAt >= c1.openedAt);
      assert.deepEqual(c1.globalBytes, bytes(0x61));
      assert.equal(c1.uploads, 2);
      assert.deepEqual(c1.summary, { accepted: 2, mu: 0.5 });
      assert.deepEqual(s.latestGlobal('exp'), { round: 1, bytes: bytes(0x61) }, 'round 2 closed without global, round 3 open');
      assert.equal(s.getExperiment('exp')?.currentRound, 3);
      const list = s.rounds('exp');
      assert.deepEqual(
        list.map((r) => [r.round, r.status, r.uploads, r.announcementSize, r.globalSize, r.summary]),
        [
          [1, 'closed', 2, 1, 1, { accepted: 2, mu: 0.5 }],
          [2, 'closed', 0, 1, null, { accepted: 0 }],
          [3, 'open', 0, 1, null, null],
        ],
      );
      assert.deepEqual(s.rounds('nope'), []);
      s.close();
    }));

    test('uploads: accepted once, duplicate never stored twice nor replaces, persists', withStore((s, path) => {
      s.createExperiment('exp', config, null);
      s.openRound('exp', 1, bytes(1), 1000);
      assert.equal(s.recordUpload('exp', 1, 'b', bytes(2, 2), 200), 'accepted');
      assert.equal(s.recordUpload('exp', 1, 'a', bytes(1, 1), 100), 'accepted');
      assert.equal(s.recordUpload('exp', 1, 'a', bytes(9, 9, 9), 300), 'duplicate');
      assert.equal(s.recordUpload('exp', 2, 'a', bytes(3), 400), 'accepted');
      assert.throws(() => s.recordUpload('nope', 1, 'a', bytes(1), 1), isStoreError(/unknown experiment/));
      assert.throws(() => s.recordUpload('exp', 1, '', bytes(1), 1), isStoreError(/invalid agent id/));
      s = reopen(s, path);
      assert.deepEqual(s.uploadsFor('exp', 1), [
        { agent: 'a', bytes: bytes(1, 1), receivedAt: 100 },
        { agent: 'b', bytes: bytes(2, 2), receivedAt: 200 },
      ]);
      assert.equal(s.recordUpload('exp', 1, 'b', bytes(7), 500), 'duplicate', 'still a duplicate after reopen');
      assert.equal(s.getRound('exp', 1)?.uploads, 2);
      assert.deepEqual(s.uploadsFor('exp', 3), []);
      s.close();
    }));

    test('rejections: counts by code, newest first with limit', withStore((s, path) => {
      assert.deepEqual(s.rejectionCounts('exp'), {});
      s.recordRejection('exp', 1, 'a', 'E_SHAPE', 'bad shape', 10);
      s.recordRejection('exp', null, null, 'E_DECODE', 'garbage', 11);
      s.recordRejection('exp', 2, 'b', 'E_SHAPE', 'bad shape again', 12);
      s.recordRejection('other', 1, 'a', 'E_LATE', 'late', 13);
      s = reopen(s, path);
      assert.deepEqual(s.rejectionCounts('exp'), { E_DECODE: 1, E_SHAPE: 2 });
      const r = s.rejections('exp', 2);
      assert.deepEqual(
        r.map(({ id: _id, ...rest }) => rest),
        [
          { round: 2, agent: 'b', code: 'E_SHAPE', message: 'bad shape again', at: 12 },
          { round: null, agent: null, code: 'E_DECODE', message: 'garbage', at: 11 },
        ],
      );
      assert.equal(s.rejections('exp', 10).length, 3);
      assert.deepEqual(s.rejections('exp', 0), []);
      s.close();
    }));

    test('agents: upsert keeps omitted fields, lastSeen is monotonic', withStore((s, path) => {
      assert.deepEqual(s.agents('exp'), []);
      s.upsertAgent('exp', 'b', { family: 'esp32', state: 'idle', lastSeen: 100 });
      s.upsertAgent('exp', 'a', { lastSeen: 50, lastRound: 1 });
      s.upsertAgent('exp', 'b', { state: 'training', lastSeen: 200, lastRound: 2 });
      s.upsertAgent('exp', 'b', { lastSeen: 150 }); // out-of-order heartbeat
      s.upsertAgent('other', 'a', { lastSeen: 1 });
      s = reopen(s, path);
      assert.deepEqual(s.agents('exp'), [
        { agent: 'a', family: null, state: null, firstSeen: 50, lastSeen: 50, lastRound: 1 },
        { agent: 'b', family: 'esp32', state: 'training', firstSeen: 100, lastSeen: 200, lastRound: 2 },
      ]);
      s.close();
    }));

    test('telemetry: accepted once, duplicate never replaces, ordered by round then agent, persists', withStore((s, path) => {
      assert.deepEqual(s.telemetry('exp'), []);
      s.createExperiment('exp', config, null);
      s.createExperiment('other', config, null);
      const b2 = telemetryRecord('exp', 'b', 2);
      const a2 = telemetryRecord('exp', 'a', 2);
      const b1 = telemetryRecord('exp', 'b', 1);
      assert.equal(s.recordTelemetry('exp', 'b', 2, b2, 20), 'accepted');
      assert.equal(s.recordTelemetry('exp', 'a', 2, a2, 21), 'accepted');
      assert.equal(s.recordTelemetry('exp', 'b', 1, b1, 10), 'accepted');
      assert.equal(s.recordTelemetry('exp', 'b', 1, telemetryRecord('exp', 'b', 1, 99), 30), 'duplicate');
      assert.equal(s.recordTelemetry('other', 'a', 1, telemetryRecord('other', 'a', 1), 1), 'accepted');
      assert.throws(() => s.recordTelemetry('nope', 'a', 1, telemetryRecord('nope', 'a', 1), 1), isStoreError(/unknown experiment "nope"/));
      assert.throws(() => s.recordTelemetry('exp', 'a', 3, telemetryRecord('exp', 'b', 3), 1), isStoreError(/telemetry record is for "exp"\/"b"\/round 3/));
      assert.throws(() => s.recordTelemetry('exp', '', 3, telemetryRecord('exp', '', 3), 1), isStoreError(/invalid agent id/));
      assert.throws(() => s.recordTelemetry('exp', 'a', -1, telemetryRecord('exp', 'a', -1), 1), isStoreError(/invalid round/));
      s = reopen(s, path);
      assert.deepEqual(s.telemetry('exp'), [b1, a2, b2]);
      assert.equal(s.telemetry('exp')[0]?.energy.joules, 1.5, 'the duplicate did not replace the first record');
      assert.deepEqual(s.telemetry('other').map((t) => t.agent), ['a']);
      assert.equal(s.recordTelemetry('exp', 'a', 2, a2, 40), 'duplicate', 'still a duplicate after reopen');
      s.close();
    }));

    test('close is idempotent and later calls throw E_STORE', () => {
      const s = openAggregatorStore(makePath());
      s.close();
      s.close();
      assert.throws(() => s.getExperiment('x'), isStoreError(/store is closed/));
    });
  });
}

aggregatorStoreContract(':memory:', () => ':memory:', false);
aggregatorStoreContract('temp file', freshFile, true);

describe('AggregatorStore file specifics', () => {
  test('restart: experiment, current round, open round and uploads survive', () => {
    const path = freshFile();
    const s = openAggregatorStore(path);
    s.createExperiment('exp', config, bytes(5));
    s.openRound('exp', 1, bytes(1), 100);
    s.recordUpload('exp', 1, 'a', bytes(1), 1);
    s.closeRound('exp', 1, bytes(0x61), {});
    s.openRound('exp', 2, bytes(2), 100);
    s.recordUpload('exp', 2, 'a', bytes(4), 2);
    s.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(db.pragma('user_version', { simple: true }), AGGREGATOR_SCHEMA_VERSION);
    db.close();
    const t = openAggregatorStore(path);
    assert.equal(t.getExperiment('exp')?.currentRound, 2);
    assert.equal(t.getRound('exp', 2)?.status, 'open');
    assert.deepEqual(t.uploadsFor('exp', 2), [{ agent: 'a', bytes: bytes(4), receivedAt: 2 }]);
    assert.deepEqual(t.latestGlobal('exp'), { round: 1, bytes: bytes(0x61) });
    t.close();
  });

  test('a version-1 store is migrated to the latest version keeping its data', () => {
    const path = freshFile();
    const v1 = openStoreDb(path, { ...AGGREGATOR_SCHEMA, migrations: AGGREGATOR_SCHEMA.migrations.slice(0, 1) });
    assert.equal(v1.pragma('user_version', { simple: true }), 1);
    v1.prepare('INSERT INTO experiment (id, config, masks, created_at) VALUES (?, ?, NULL, ?)').run('exp', JSON.stringify(config), 5);
    v1.prepare("INSERT INTO round (experiment, round, status, opened_at, deadline_ms, announcement) VALUES ('exp', 1, 'open', 6, 100, x'a1')").run();
    assert.equal((v1.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'telemetry'").get() as { n: number }).n, 0);
    closeDb(v1);
    assert.equal(AGGREGATOR_SCHEMA_VERSION, 4);
    const s = openAggregatorStore(path);
    assert.equal(s.getExperiment('exp')?.currentRound, 0);
    assert.equal(s.getRound('exp', 1)?.status, 'open');
    assert.deepEqual(s.telemetry('exp'), []);
    assert.equal(s.recordTelemetry('exp', 'a', 1, telemetryRecord('exp', 'a', 1), 7), 'accepted');
    s.close();
    const db = new Database(path, { readonly: true });
    assert.equal(db.pragma('user_version', { simple: true }), AGGREGATOR_SCHEMA_VERSION);
    db.close();
    const t = openAggregatorStore(path);
    assert.deepEqual(t.telemetry('exp'), [telemetryRecord('exp', 'a', 1)]);
    // version 3: the key tables, empty after the migration
    assert.equal(t.keys.signingKey(), null);
    assert.deepEqual(t.keys.agentKeys('exp'), []);
    t.close();
  });

  test('a file of random bytes is rejected with E_STORE naming the file', () => {
    const path = join(dir, 'random.db');
    writeFileSync(path, randomBytes(8192));
    assert.throws(() => openAggregatorStore(path), isStoreError(/random\.db: not a tinyproto aggregator store \(file is not a database\)/));
  });

  test('an agent store is rejected', () => {
    const path = freshFile();
    openAgentStore(path).close();
    assert.throws(() => openAggregatorStore(path), isStoreError(/is a tinyproto agent store, cannot open it as the aggregator store/));
  });

  test('a store from a newer schema version is rejected', () => {
    const path = freshFile();
    openAggregatorStore(path).close();
    const db = new Database(path);
    db.pragma(`user_version = ${AGGREGATOR_SCHEMA_VERSION + 5}`);
    db.close();
    assert.throws(() => openAggregatorStore(path), isStoreError(/newer than supported version/));
  });
});

describe('commitBatch (group commit)', () => {
  test('uploads, agents and telemetry in one call; duplicates reported per item as the single methods would', () => {
    const s = openAggregatorStore(freshFile());
    s.createExperiment('gc', config, null);
    s.recordUpload('gc', 1, 'a0', bytes(1), 10);
    const r = s.commitBatch('gc', {
      uploads: [
        { round: 1, agent: 'a0', bytes: bytes(9), receivedAt: 11 },
        { round: 1, agent: 'a1', bytes: bytes(2), receivedAt: 12 },
        { round: 1, agent: 'a2', bytes: bytes(3), receivedAt: 13 },
      ],
      agents: [{ agent: 'a1', fields: { state: 'training', lastSeen: 12, lastRound: 0 } }],
      telemetry: [
        { agent: 'a1', round: 1, record: telemetryRecord('gc', 'a1', 1), at: 14 },
        { agent: 'a1', round: 1, record: telemetryRecord('gc', 'a1', 1, 9), at: 15 },
      ],
    });
    assert.deepEqual(r.uploads, ['duplicate', 'accepted', 'accepted']);
    assert.deepEqual(r.telemetry, ['accepted', 'duplicate']);
    assert.deepEqual(s.uploadsFor('gc', 1).map((u) => [u.agent, [...u.bytes]]), [['a0', [1]], ['a1', [2]], ['a2', [3]]]);
    assert.equal(s.agents('gc')[0]?.state, 'training');
    assert.equal(s.telemetry('gc').length, 1);
    assert.ok(s.hasUpload('gc', 1, 'a2') && !s.hasUpload('gc', 2, 'a2'));
    s.close();
  });

  test('one bad item commits nothing of the batch', () => {
    const s = openAggregatorStore(freshFile());
    s.createExperiment('gc', config, null);
    assert.throws(
      () =>
        s.commitBatch('gc', {
          uploads: [{ round: 1, agent: 'a1', bytes: bytes(2), receivedAt: 12 }],
          agents: [],
          telemetry: [{ agent: 'a1', round: 2, record: telemetryRecord('gc', 'a1', 1), at: 14 }],
        }),
      isStoreError(/telemetry record is for/),
    );
    assert.equal(s.uploadsFor('gc', 1).length, 0);
    assert.throws(() => s.commitBatch('nope', { uploads: [{ round: 1, agent: 'a1', bytes: bytes(2), receivedAt: 1 }], agents: [], telemetry: [] }), isStoreError(/unknown experiment/));
    s.close();
  });
});
