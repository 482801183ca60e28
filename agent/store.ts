/**
 * Agent-side persistent state (SQLite via better-sqlite3): the cached data shard, the
 * experiment's class masks, received global prototypes and round announcements, model
 * checkpoints, the upload outbox, round progress and free-form key/value metadata.
 *
 * Messages are stored as the raw wire bytes exactly as sent/received. Every method that
 * writes commits before it returns; the outbox, acks and progress commit with
 * synchronous=FULL (see protocol/sqlite.ts), everything else with synchronous=NORMAL.
 */
import Database from 'better-sqlite3';
import type { ModelState } from '../models/engine.ts';
import type { RoundTelemetry } from '../protocol/telemetry.ts';
import {
  APPLICATION_IDS,
  closeDb,
  durably,
  fromBlob,
  guard,
  openStoreDb,
  parseJsonObject,
  storeError,
  toBlob,
  type Migration,
  type SqliteDb,
  type StoreSchema,
} from '../protocol/sqlite.ts';

export interface ShardMeta {
  dataset: string;
  source: string;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  mean: number[];
  std: number[];
  client: number;
  clients: number;
  alpha: number;
  seed: number;
  samplesPerClient: number | null;
}

export interface ShardPart {
  /** count * height * width * channels bytes, NHWC. */
  pixels: Uint8Array;
  /** count labels in [0, numClasses). */
  labels: Int32Array;
}

export interface StoredShard {
  meta: ShardMeta;
  train: ShardPart;
  test: ShardPart;
}

export interface StoredMessage {
  round: number;
  bytes: Uint8Array;
}

export interface StoredCheckpoint {
  round: number;
  state: ModelState;
  extra: Record<string, unknown>;
}

export interface PendingUpload {
  experiment: string;
  round: number;
  bytes: Uint8Array;
  attempts: number;
  /** ms since epoch */
  createdAt: number;
}

export type UploadState = 'pending' | 'acked';

export interface AgentStore {
  /** File path, or ':memory:'. */
  readonly path: string;

  /** Replace the cached shard (one transaction: the previous shard survives any failure). */
  saveShard(meta: ShardMeta, train: ShardPart, test: ShardPart): void;
  loadShard(): StoredShard | null;

  saveMasks(experiment: string, bytes: Uint8Array): void;
  loadMasks(experiment: string): Uint8Array | null;

  /** Keeps history; saving the same round again replaces that round's bytes. */
  saveGlobal(experiment: string, round: number, bytes: Uint8Array): void;
  latestGlobal(experiment: string): StoredMessage | null;

  /** Keeps history; saving the same round again replaces that round's bytes. */
  saveRound(experiment: string, round: number, bytes: Uint8Array): void;
  latestRound(experiment: string): StoredMessage | null;

  /** Keeps only the latest 2 checkpoints (by round) per experiment. */
  saveCheckpoint(experiment: string, round: number, state: ModelState, extra?: Record<string, unknown>): void;
  latestCheckpoint(experiment: string): StoredCheckpoint | null;

  /** 'exists' when (experiment, round) was already queued (pending or acked): never replaced. */
  enqueueUpload(experiment: string, round: number, bytes: Uint8Array): 'queued' | 'exists';
  /** Un-acked uploads ordered by round (then experiment). */
  pendingUploads(experiment?: string): PendingUpload[];
  /** Increments attempts; false when no such upload exists. */
  markAttempt(experiment: string, round: number): boolean;
  /** Sets acked_at (first ack wins; the row stays as history); false when no such upload exists. */
  markAcked(experiment: string, round: number): boolean;
  uploadState(experiment: string, round: number): UploadState | null;

  setLastCompletedRound(experiment: string, round: number): void;
  /** 0 when none. */
  lastCompletedRound(experiment: string): number;

  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;

  /** Per-round telemetry: kept on the board, sent to the aggregator (pending until sent). */
  saveTelemetry(experiment: string, round: number, record: RoundTelemetry): void;
  telemetry(experiment: string): RoundTelemetry[];
  pendingTelemetry(experiment: string): RoundTelemetry[];
  markTelemetrySent(experiment: string, round: number): void;

  /** Idempotent. Any later call throws E_STORE. */
  close(): void;
}

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
];

export const AGENT_SCHEMA: StoreSchema = {
  kind: 'agent',
  applicationId: APPLICATION_IDS['agent']!,
  migrations: MIGRATIONS,
};

/** Latest agent schema version (PRAGMA user_version). */
export const AGENT_SCHEMA_VERSION = MIGRATIONS.length;

interface ManifestEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

function checkRound(path: string, round: number): void {
  if (!Number.isSafeInteger(round) || round < 0) throw storeError(path, `invalid round ${String(round)}`);
}

function checkKey(path: string, what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0) throw storeError(path, `invalid ${what} ${JSON.stringify(s)}`);
}

function int32ToBlob(a: Int32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

function blobToInt32(b: Uint8Array, count: number, path: string, what: string): Int32Array {
  if (b.byteLength !== count * 4) {
    throw storeError(path, `${what}: ${b.byteLength} bytes, expected ${count * 4} for ${count} labels`);
  }
  const out = new Int32Array(count);
  new Uint8Array(out.buffer).set(b);
  return out;
}

function validateMeta(path: string, m: ShardMeta): void {
  const posInt = (k: keyof ShardMeta): void => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw storeError(path, `shard meta: ${k} must be a positive integer, got ${String(v)}`);
    }
  };
  (['height', 'width', 'channels', 'numClasses', 'clients'] as const).forEach(posInt);
  if (!Number.isSafeInteger(m.client) || m.client < 0 || m.client >= m.clients) {
    throw storeError(path, `shard meta: client ${m.client} not in [0, ${m.clients})`);
  }
  if (m.mean.length !== m.channels || m.std.length !== m.channels) {
    throw storeError(path, `shard meta: mean/std need ${m.channels} entries`);
  }
  if (![...m.mean, ...m.std, m.alpha, m.seed].every(Number.isFinite)) {
    throw storeError(path, 'shard meta: mean, std, alpha and seed must be finite');
  }
}

function validatePart(path: string, name: string, meta: ShardMeta, part: ShardPart): void {
  const per = meta.height * meta.width * meta.channels;
  const count = part.labels.length;
  if (part.pixels.length !== count * per) {
    throw storeError(
      path,
      `shard ${name}: ${part.pixels.length} pixel bytes, expected ${count}*${meta.height}*${meta.width}*${meta.channels} = ${count * per}`,
    );
  }
  for (let i = 0; i < count; i++) {
    const l = part.labels[i]!;
    if (l < 0 || l >= meta.numClasses) throw storeError(path, `shard ${name}: label ${l} at ${i} not in [0, ${meta.numClasses})`);
  }
}

function parseShardMeta(path: string, text: unknown): ShardMeta {
  const o = parseJsonObject(text, path, 'shard meta');
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number') throw storeError(path, `shard meta: ${k} missing`);
    return v;
  };
  const arr = (k: string): number[] => {
    const v = o[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw storeError(path, `shard meta: ${k} missing`);
    return v as number[];
  };
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw storeError(path, `shard meta: ${k} missing`);
    return v;
  };
  const spc = o['samplesPerClient'];
  if (spc !== null && typeof spc !== 'number') throw storeError(path, 'shard meta: samplesPerClient missing');
  return {
    dataset: str('dataset'),
    source: str('source'),
    height: num('height'),
    width: num('width'),
    channels: num('channels'),
    numClasses: num('numClasses'),
    mean: arr('mean'),
    std: arr('std'),
    client: num('client'),
    clients: num('clients'),
    alpha: num('alpha'),
    seed: num('seed'),
    samplesPerClient: spc,
  };
}

function encodeState(path: string, state: ModelState): { manifest: string; data: Buffer } {
  const names = Object.keys(state).sort();
  const entries: ManifestEntry[] = [];
  let total = 0;
  for (const name of names) {
    const t = state[name]!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== t.data.length) {
      throw storeError(path, `checkpoint: tensor ${name} has shape [${t.shape.join(',')}] but ${t.data.length} values`);
    }
    entries.push({ name, shape: [...t.shape], offset: total, length: size });
    total += size;
  }
  const all = new Float32Array(total);
  for (const e of entries) all.set(state[e.name]!.data, e.offset);
  return { manifest: JSON.stringify(entries), data: Buffer.from(all.buffer, all.byteOffset, all.byteLength) };
}

function decodeState(path: string, manifestText: string, blob: Uint8Array): ModelState {
  let entries: unknown;
  try {
    entries = JSON.parse(manifestText);
  } catch (e) {
    throw storeError(path, 'checkpoint manifest: invalid JSON', e);
  }
  if (!Array.isArray(entries)) throw storeError(path, 'checkpoint manifest: not an array');
  if (blob.byteLength % 4 !== 0) throw storeError(path, `checkpoint data: ${blob.byteLength} bytes is not a multiple of 4`);
  const all = new Float32Array(blob.byteLength / 4);
  new Uint8Array(all.buffer).set(blob);
  const state: ModelState = {};
  for (const raw of entries as unknown[]) {
    const e = raw as Partial<ManifestEntry>;
    if (
      typeof e.name !== 'string' ||
      !Array.isArray(e.shape) ||
      typeof e.offset !== 'number' ||
      typeof e.length !== 'number' ||
      e.shape.reduce((a: number, b: number) => a * b, 1) !== e.length ||
      e.offset < 0 ||
      e.offset + e.length > all.length
    ) {
      throw storeError(path, `checkpoint manifest: bad entry ${JSON.stringify(raw)}`);
    }
    state[e.name] = { shape: [...e.shape], data: all.slice(e.offset, e.offset + e.length) };
  }
  return state;
}

class SqliteAgentStore implements AgentStore {
  readonly path: string;
  private readonly db: SqliteDb;
  private readonly s;

  private readonly chunkBytes: number;

  constructor(path: string, options: AgentStoreOptions) {
    this.path = path;
    const chunk = options.shardChunkBytes ?? SHARD_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunk) || chunk <= 0) throw storeError(path, `invalid shardChunkBytes ${String(chunk)}`);
    this.chunkBytes = chunk;
    this.db = openStoreDb(path, AGENT_SCHEMA);
    const db = this.db;
    this.s = {
      delShard: db.prepare('DELETE FROM shard'),
      insShard: db.prepare(
        `INSERT INTO shard (id, meta_json, train_count, test_count, train_labels, test_labels, saved_at)
         VALUES (1, ?, ?, ?, ?, ?, ?)`,
      ),
      insChunk: db.prepare('INSERT INTO shard_chunk (shard_id, part, seq, bytes) VALUES (1, ?, ?, ?)'),
      getShard: db.prepare('SELECT meta_json, train_count, test_count, train_labels, test_labels FROM shard WHERE id = 1'),
      getChunks: db.prepare('SELECT seq, bytes FROM shard_chunk WHERE shard_id = 1 AND part = ? ORDER BY seq'),
      putMasks: db.prepare(
        `INSERT INTO masks (experiment, bytes, saved_at) VALUES (?, ?, ?)
         ON CONFLICT (experiment) DO UPDATE SET bytes = excluded.bytes, saved_at = excluded.saved_at`,
      ),
      getMasks: db.prepare('SELECT bytes FROM masks WHERE experiment = ?'),
      putGlobal: db.prepare(
        `INSERT INTO global_msg (experiment, round, bytes, received_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (experiment, round) DO UPDATE SET bytes = excluded.bytes, received_at = excluded.received_at`,
      ),
      getGlobal: db.prepare('SELECT round, bytes FROM global_msg WHERE experiment = ? ORDER BY round DESC LIMIT 1'),
      putRound: db.prepare(
        `INSERT INTO round_msg (experiment, round, bytes, received_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (experiment, round) DO UPDATE SET bytes = excluded.bytes, received_at = excluded.received_at`,
      ),
      getRound: db.prepare('SELECT round, bytes FROM round_msg WHERE experiment = ? ORDER BY round DESC LIMIT 1'),
      putCkpt: db.prepare(
        `INSERT INTO checkpoint (experiment, round, manifest, data, extra, saved_at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (experiment, round) DO UPDATE SET manifest = excluded.manifest, data = excluded.data,
           extra = excluded.extra, saved_at = excluded.saved_at`,
      ),
      pruneCkpt: db.prepare(
        `DELETE FROM checkpoint WHERE experiment = ? AND round NOT IN
           (SELECT round FROM checkpoint WHERE experiment = ? ORDER BY round DESC LIMIT 2)`,
      ),
      getCkpt: db.prepare('SELECT round, manifest, data, extra FROM checkpoint WHERE experiment = ? ORDER BY round DESC LIMIT 1'),
      enqueue: db.prepare(
        'INSERT INTO outbox (experiment, round, bytes, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (experiment, round) DO NOTHING',
      ),
      pendingAll: db.prepare(
        'SELECT experiment, round, bytes, attempts, created_at FROM outbox WHERE acked_at IS NULL ORDER BY round, experiment',
      ),
      pendingFor: db.prepare(
        'SELECT experiment, round, bytes, attempts, created_at FROM outbox WHERE acked_at IS NULL AND experiment = ? ORDER BY round',
      ),
      attempt: db.prepare('UPDATE outbox SET attempts = attempts + 1, last_attempt_at = ? WHERE experiment = ? AND round = ?'),
      ack: db.prepare('UPDATE outbox SET acked_at = coalesce(acked_at, ?) WHERE experiment = ? AND round = ?'),
      uploadState: db.prepare('SELECT acked_at FROM outbox WHERE experiment = ? AND round = ?'),
      setProgress: db.prepare(
        `INSERT INTO progress (experiment, last_round) VALUES (?, ?)
         ON CONFLICT (experiment) DO UPDATE SET last_round = excluded.last_round`,
      ),
      getProgress: db.prepare('SELECT last_round FROM progress WHERE experiment = ?'),
      putTelemetry: db.prepare(
        `INSERT INTO telemetry (experiment, round, json, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (experiment, round) DO UPDATE SET json = excluded.json, created_at = excluded.created_at, sent_at = NULL`,
      ),
      telemetryAll: db.prepare('SELECT json, sent_at FROM telemetry WHERE experiment = ? ORDER BY round'),
      telemetryPending: db.prepare('SELECT json FROM telemetry WHERE experiment = ? AND sent_at IS NULL ORDER BY round'),
      telemetrySent: db.prepare('UPDATE telemetry SET sent_at = coalesce(sent_at, ?) WHERE experiment = ? AND round = ?'),
      getMeta: db.prepare('SELECT value FROM meta WHERE key = ?'),
      setMeta: db.prepare('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
    };
  }

  private run<T>(what: string, fn: () => T): T {
    return guard(this.db, this.path, what, fn);
  }

  saveShard(meta: ShardMeta, train: ShardPart, test: ShardPart): void {
    this.run('saveShard', () => {
      validateMeta(this.path, meta);
      const metaJson = JSON.stringify({ ...meta, mean: [...meta.mean], std: [...meta.std] });
      this.db.transaction(() => {
        this.s.delShard.run(); // cascades to shard_chunk
        this.s.insShard.run(
          metaJson,
          train.labels.length,
          test.labels.length,
          int32ToBlob(train.labels),
          int32ToBlob(test.labels),
          Date.now(),
        );
        // Each part is validated as it is written, inside the transaction: a bad `test`
        // part throws after `train` was written and the whole replacement rolls back.
        for (const [name, part] of [
          ['train', train],
          ['test', test],
        ] as const) {
          validatePart(this.path, name, meta, part);
          const px = part.pixels;
          for (let off = 0, seq = 0; off < px.length; off += this.chunkBytes, seq++) {
            this.s.insChunk.run(name, seq, toBlob(px.subarray(off, Math.min(px.length, off + this.chunkBytes))));
          }
        }
      })();
    });
  }

  loadShard(): StoredShard | null {
    return this.run('loadShard', () =>
      this.db.transaction((): StoredShard | null => {
        const row = this.s.getShard.get() as
          | { meta_json: string; train_count: number; test_count: number; train_labels: unknown; test_labels: unknown }
          | undefined;
        if (row === undefined) return null;
        const meta = parseShardMeta(this.path, row.meta_json);
        const per = meta.height * meta.width * meta.channels;
        const part = (name: 'train' | 'test', count: number, labelsBlob: unknown): ShardPart => {
          const chunks = this.s.getChunks.all(name) as { seq: number; bytes: unknown }[];
          const expected = count * per;
          let total = 0;
          const bufs = chunks.map((c, i) => {
            if (c.seq !== i) throw storeError(this.path, `shard ${name}: chunk ${i} missing`);
            const b = fromBlob(c.bytes, this.path, `shard ${name} chunk ${i}`);
            total += b.byteLength;
            return b;
          });
          if (total !== expected) {
            throw storeError(
              this.path,
              `shard ${name}: ${total} pixel bytes stored, expected ${count}*${meta.height}*${meta.width}*${meta.channels} = ${expected}`,
            );
          }
          const pixels = new Uint8Array(expected);
          let off = 0;
          for (const b of bufs) {
            pixels.set(b, off);
            off += b.byteLength;
          }
          const labels = blobToInt32(fromBlob(labelsBlob, this.path, `shard ${name} labels`), count, this.path, `shard ${name} labels`);
          return { pixels, labels };
        };
        return {
          meta,
          train: part('train', row.train_count, row.train_labels),
          test: part('test', row.test_count, row.test_labels),
        };
      })(),
    );
  }

  saveMasks(experiment: string, bytes: Uint8Array): void {
    this.run('saveMasks', () => {
      checkKey(this.path, 'experiment', experiment);
      this.s.putMasks.run(experiment, toBlob(bytes), Date.now());
    });
  }

  loadMasks(experiment: string): Uint8Array | null {
    return this.run('loadMasks', () => {
      const row = this.s.getMasks.get(experiment) as { bytes: unknown } | undefined;
      return row === undefined ? null : fromBlob(row.bytes, this.path, 'masks');
    });
  }

  saveGlobal(experiment: string, round: number, bytes: Uint8Array): void {
    this.run('saveGlobal', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      this.s.putGlobal.run(experiment, round, toBlob(bytes), Date.now());
    });
  }

  latestGlobal(experiment: string): StoredMessage | null {
    return this.run('latestGlobal', () => {
      const row = this.s.getGlobal.get(experiment) as { round: number; bytes: unknown } | undefined;
      return row === undefined ? null : { round: row.round, bytes: fromBlob(row.bytes, this.path, 'global') };
    });
  }

  saveRound(experiment: string, round: number, bytes: Uint8Array): void {
    this.run('saveRound', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      this.s.putRound.run(experiment, round, toBlob(bytes), Date.now());
    });
  }

  latestRound(experiment: string): StoredMessage | null {
    return this.run('latestRound', () => {
      const row = this.s.getRound.get(experiment) as { round: number; bytes: unknown } | undefined;
      return row === undefined ? null : { round: row.round, bytes: fromBlob(row.bytes, this.path, 'round') };
    });
  }

  saveCheckpoint(experiment: string, round: number, state: ModelState, extra: Record<string, unknown> = {}): void {
    this.run('saveCheckpoint', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      const { manifest, data } = encodeState(this.path, state);
      const extraJson = JSON.stringify(extra);
      this.db.transaction(() => {
        this.s.putCkpt.run(experiment, round, manifest, data, extraJson, Date.now());
        this.s.pruneCkpt.run(experiment, experiment);
      })();
    });
  }

  latestCheckpoint(experiment: string): StoredCheckpoint | null {
    return this.run('latestCheckpoint', () => {
      const row = this.s.getCkpt.get(experiment) as
        | { round: number; manifest: string; data: unknown; extra: string }
        | undefined;
      if (row === undefined) return null;
      return {
        round: row.round,
        state: decodeState(this.path, row.manifest, fromBlob(row.data, this.path, 'checkpoint data')),
        extra: parseJsonObject(row.extra, this.path, 'checkpoint extra'),
      };
    });
  }

  enqueueUpload(experiment: string, round: number, bytes: Uint8Array): 'queued' | 'exists' {
    return this.run('enqueueUpload', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      const r = durably(this.db, () => this.s.enqueue.run(experiment, round, toBlob(bytes), Date.now()));
      return r.changes === 1 ? 'queued' : 'exists';
    });
  }

  pendingUploads(experiment?: string): PendingUpload[] {
    return this.run('pendingUploads', () => {
      const rows = (experiment === undefined ? this.s.pendingAll.all() : this.s.pendingFor.all(experiment)) as {
        experiment: string;
        round: number;
        bytes: unknown;
        attempts: number;
        created_at: number;
      }[];
      return rows.map((r) => ({
        experiment: r.experiment,
        round: r.round,
        bytes: fromBlob(r.bytes, this.path, 'upload'),
        attempts: r.attempts,
        createdAt: r.created_at,
      }));
    });
  }

  markAttempt(experiment: string, round: number): boolean {
    return this.run('markAttempt', () => this.s.attempt.run(Date.now(), experiment, round).changes === 1);
  }

  markAcked(experiment: string, round: number): boolean {
    return this.run('markAcked', () => durably(this.db, () => this.s.ack.run(Date.now(), experiment, round)).changes === 1);
  }

  uploadState(experiment: string, round: number): UploadState | null {
    return this.run('uploadState', () => {
      const row = this.s.uploadState.get(experiment, round) as { acked_at: number | null } | undefined;
      if (row === undefined) return null;
      return row.acked_at === null ? 'pending' : 'acked';
    });
  }

  setLastCompletedRound(experiment: string, round: number): void {
    this.run('setLastCompletedRound', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      durably(this.db, () => this.s.setProgress.run(experiment, round));
    });
  }

  lastCompletedRound(experiment: string): number {
    return this.run('lastCompletedRound', () => {
      const row = this.s.getProgress.get(experiment) as { last_round: number } | undefined;
      return row?.last_round ?? 0;
    });
  }

  saveTelemetry(experiment: string, round: number, record: RoundTelemetry): void {
    this.run('saveTelemetry', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, round);
      this.s.putTelemetry.run(experiment, round, JSON.stringify(record), Date.now());
    });
  }

  telemetry(experiment: string): RoundTelemetry[] {
    return this.run('telemetry', () =>
      (this.s.telemetryAll.all(experiment) as { json: string }[]).map((r) => JSON.parse(r.json) as RoundTelemetry),
    );
  }

  pendingTelemetry(experiment: string): RoundTelemetry[] {
    return this.run('pendingTelemetry', () =>
      (this.s.telemetryPending.all(experiment) as { json: string }[]).map((r) => JSON.parse(r.json) as RoundTelemetry),
    );
  }

  markTelemetrySent(experiment: string, round: number): void {
    this.run('markTelemetrySent', () => {
      this.s.telemetrySent.run(Date.now(), experiment, round);
    });
  }

  getMeta(key: string): string | null {
    return this.run('getMeta', () => {
      const row = this.s.getMeta.get(key) as { value: string } | undefined;
      return row?.value ?? null;
    });
  }

  setMeta(key: string, value: string): void {
    this.run('setMeta', () => {
      checkKey(this.path, 'meta key', key);
      if (typeof value !== 'string') throw storeError(this.path, `meta ${key}: value must be a string`);
      this.s.setMeta.run(key, value);
    });
  }

  close(): void {
    closeDb(this.db);
  }
}

export interface AgentStoreOptions {
  /** Pixel BLOB row size for the shard cache (default SHARD_CHUNK_BYTES = 16 MiB). */
  shardChunkBytes?: number;
}

/** Open (creating and migrating if needed) an agent store; `':memory:'` for a throwaway one. */
export function openAgentStore(path: string, options: AgentStoreOptions = {}): AgentStore {
  return new SqliteAgentStore(path, options);
}

/**
 * Reads the meta entries whose key starts with `prefix` from an agent store that another process
 * may be writing (read-only connection, no migration, no checkpoint). Missing file: empty result.
 */
export function readAgentMeta(path: string, prefix: string): Record<string, string> {
  let db: SqliteDb;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch {
    return {};
  }
  try {
    db.pragma('busy_timeout = 2000');
    const rows = db.prepare("SELECT key, value FROM meta WHERE substr(key, 1, length(?)) = ?").all(prefix, prefix) as { key: string; value: string }[];
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  } catch (e) {
    throw storeError(path, `cannot read the agent store: ${e instanceof Error ? e.message : String(e)}`, e);
  } finally {
    db.close();
  }
}
