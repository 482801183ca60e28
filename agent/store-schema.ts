/**
 * Agent store schema: migrations (PRAGMA user_version), the schema descriptor and the shard
 * chunk size. Re-exported from ./store.ts.
 */
import { APPLICATION_IDS, type Migration, type StoreSchema } from '../storage/sqlite.ts';

/** Pixel BLOBs are split into rows of at most this many bytes. */
export const SHARD_CHUNK_BYTES = 16 * 1024 * 1024;

const MIGRATIONS: readonly Migration[] = [
  // v0 -> v1
  (db) => {
    db.exec(`
      CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE shard (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        meta_json   TEXT NOT NULL,
        train_count INTEGER NOT NULL,
        test_count  INTEGER NOT NULL,
        train_labels BLOB NOT NULL,
        test_labels  BLOB NOT NULL,
        saved_at    INTEGER NOT NULL
      );
      CREATE TABLE shard_chunk (
        shard_id INTEGER NOT NULL REFERENCES shard(id) ON DELETE CASCADE,
        part     TEXT NOT NULL CHECK (part IN ('train', 'test')),
        seq      INTEGER NOT NULL,
        bytes    BLOB NOT NULL,
        PRIMARY KEY (shard_id, part, seq)
      );
      CREATE TABLE masks (
        experiment TEXT PRIMARY KEY,
        bytes      BLOB NOT NULL,
        saved_at   INTEGER NOT NULL
      );
      CREATE TABLE global_msg (
        experiment  TEXT NOT NULL,
        round       INTEGER NOT NULL,
        bytes       BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (experiment, round)
      );
      CREATE TABLE round_msg (
        experiment  TEXT NOT NULL,
        round       INTEGER NOT NULL,
        bytes       BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (experiment, round)
      );
      CREATE TABLE checkpoint (
        experiment TEXT NOT NULL,
        round      INTEGER NOT NULL,
        manifest   TEXT NOT NULL,
        data       BLOB NOT NULL,
        extra      TEXT NOT NULL,
        saved_at   INTEGER NOT NULL,
        PRIMARY KEY (experiment, round)
      );
      CREATE TABLE outbox (
        experiment      TEXT NOT NULL,
        round           INTEGER NOT NULL,
        bytes           BLOB NOT NULL,
        attempts        INTEGER NOT NULL DEFAULT 0,
        created_at      INTEGER NOT NULL,
        last_attempt_at INTEGER,
        acked_at        INTEGER,
        PRIMARY KEY (experiment, round)
      );
      CREATE INDEX outbox_pending ON outbox (acked_at, round);
      CREATE TABLE progress (
        experiment TEXT PRIMARY KEY,
        last_round INTEGER NOT NULL
      );
    `);
  },
  // v1 -> v2: per-round telemetry, kept on the board and sent to the aggregator
  (db) => {
    db.exec(`
      CREATE TABLE telemetry (
        experiment TEXT NOT NULL,
        round      INTEGER NOT NULL,
        json       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        sent_at    INTEGER,
        PRIMARY KEY (experiment, round)
      );
    `);
  },
  // v2 -> v3: the aggregator's receipt settles an upload (accepted, duplicate or rejected + code)
  (db) => {
    db.exec(`
      ALTER TABLE outbox ADD COLUMN outcome TEXT;
      ALTER TABLE outbox ADD COLUMN outcome_code TEXT;
    `);
  },
];

export const AGENT_SCHEMA: StoreSchema = {
  kind: 'agent',
  applicationId: APPLICATION_IDS['agent']!,
  migrations: MIGRATIONS,
};

/** Latest agent schema version (PRAGMA user_version). */
export const AGENT_SCHEMA_VERSION = MIGRATIONS.length;
