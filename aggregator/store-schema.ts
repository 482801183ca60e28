/**
 * Aggregator store schema: migrations (PRAGMA user_version) and the schema descriptor.
 * Re-exported from ./store.ts.
 */
import { APPLICATION_IDS, type Migration, type StoreSchema } from '../storage/sqlite.ts';

const MIGRATIONS: readonly Migration[] = [
  // v0 -> v1
  (db) => {
    db.exec(`
      CREATE TABLE experiment (
        id            TEXT PRIMARY KEY,
        config        TEXT NOT NULL,
        masks         BLOB,
        created_at    INTEGER NOT NULL,
        status        TEXT NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'finished')),
        current_round INTEGER NOT NULL DEFAULT 0,
        finished_at   INTEGER
      );
      CREATE TABLE round (
        experiment   TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
        round        INTEGER NOT NULL,
        status       TEXT NOT NULL CHECK (status IN ('open', 'closed')),
        opened_at    INTEGER NOT NULL,
        deadline_ms  INTEGER NOT NULL,
        closed_at    INTEGER,
        announcement BLOB NOT NULL,
        global       BLOB,
        summary      TEXT,
        PRIMARY KEY (experiment, round)
      );
      CREATE TABLE upload (
        experiment  TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
        round       INTEGER NOT NULL,
        agent       TEXT NOT NULL,
        bytes       BLOB NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (experiment, round, agent)
      );
      CREATE TABLE rejection (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,
        experiment TEXT NOT NULL,
        round      INTEGER,
        agent      TEXT,
        code       TEXT NOT NULL,
        message    TEXT NOT NULL,
        at         INTEGER NOT NULL
      );
      CREATE INDEX rejection_by_experiment ON rejection (experiment, id);
      CREATE TABLE agent (
        experiment TEXT NOT NULL,
        agent      TEXT NOT NULL,
        family     TEXT,
        state      TEXT,
        first_seen INTEGER NOT NULL,
        last_seen  INTEGER NOT NULL,
        last_round INTEGER,
        PRIMARY KEY (experiment, agent)
      );
    `);
  },
  // v1 -> v2: per-round agent telemetry (wire/telemetry.ts RoundTelemetry as JSON)
  (db) => {
    db.exec(`
      CREATE TABLE telemetry (
        experiment  TEXT NOT NULL REFERENCES experiment(id) ON DELETE CASCADE,
        agent       TEXT NOT NULL,
        round       INTEGER NOT NULL,
        json        TEXT NOT NULL,
        received_at INTEGER NOT NULL,
        PRIMARY KEY (experiment, agent, round)
      );
    `);
  },
  // v2 -> v3: the aggregator's signing key and the agents' pinned public keys (aggregator/keys.ts)
  (db) => {
    db.exec(`
      CREATE TABLE signing_key (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        private_pem TEXT NOT NULL,
        public_key  TEXT NOT NULL,
        created_at  INTEGER NOT NULL
      );
      CREATE TABLE agent_key (
        experiment TEXT NOT NULL,
        agent      TEXT NOT NULL,
        public_key TEXT NOT NULL,
        source     TEXT NOT NULL CHECK (source IN ('pinned', 'configured')),
        pinned_at  INTEGER NOT NULL,
        PRIMARY KEY (experiment, agent)
      );
    `);
  },
  // v3 -> v4: PARTIAL frames of relays (aggregator/store-partials.ts): counted by the
  // coordinator, or kept by a relay until the coordinator's RECEIPT settles them
  (db) => {
    db.exec(`
      CREATE TABLE partial (
        experiment TEXT NOT NULL,
        round      INTEGER NOT NULL,
        relay      TEXT NOT NULL,
        bytes      BLOB NOT NULL,
        at         INTEGER NOT NULL,
        settled_at INTEGER,
        PRIMARY KEY (experiment, round, relay)
      );
    `);
  },
];

export const AGGREGATOR_SCHEMA: StoreSchema = {
  kind: 'aggregator',
  applicationId: APPLICATION_IDS['aggregator']!,
  migrations: MIGRATIONS,
};

/** Latest aggregator schema version (PRAGMA user_version). */
export const AGGREGATOR_SCHEMA_VERSION = MIGRATIONS.length;
