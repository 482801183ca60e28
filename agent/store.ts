/**
 * Agent-side persistent state (SQLite via better-sqlite3): the cached data shard, the
 * experiment's class masks, received global prototypes and round announcements, model
 * checkpoints, the upload outbox, round progress and free-form key/value metadata.
 *
 * Messages are stored as the raw wire bytes exactly as sent/received. Every method that
 * writes commits before it returns; the outbox, acks and progress commit with
 * synchronous=FULL (see storage/sqlite.ts), everything else with synchronous=NORMAL.
 */
import type { ModelState } from '../models/engine.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import {
  closeDb,
  durably,
  fromBlob,
  guard,
  openStoreDb,
  storeError,
  toBlob,
  type SqliteDb,
} from '../storage/sqlite.ts';
import { checkKey, checkRound } from './store-codec.ts';
import { encodeState } from '../storage/model-state.ts';
import { int32ToBlob, validateMeta, validatePart } from './store-codec.ts';
import { AgentStoreReads, evaluationKey } from './store-view.ts';
import { AGENT_SCHEMA, SHARD_CHUNK_BYTES } from './store-schema.ts';
import type { AgentStore, AgentStoreOptions, EvaluationRecord, PendingUpload, ShardMeta, ShardPart } from './store-types.ts';
import type { StoredCheckpoint, StoredMessage, StoredShard, UploadOutcome, UploadState } from './store-types.ts';

export * from './store-types.ts';
export * from './store-schema.ts';

class SqliteAgentStore implements AgentStore {
  readonly path: string;
  private readonly db: SqliteDb;
  private readonly s;
  private readonly reads: AgentStoreReads;

  private readonly chunkBytes: number;

  constructor(path: string, options: AgentStoreOptions) {
    this.path = path;
    const chunk = options.shardChunkBytes ?? SHARD_CHUNK_BYTES;
    if (!Number.isSafeInteger(chunk) || chunk <= 0) throw storeError(path, `invalid shardChunkBytes ${String(chunk)}`);
    this.chunkBytes = chunk;
    this.db = openStoreDb(path, AGENT_SCHEMA);
    const db = this.db;
    this.reads = new AgentStoreReads(db, path);
    this.s = {
      delShard: db.prepare('DELETE FROM shard'),
      insShard: db.prepare(
        `INSERT INTO shard (id, meta_json, train_count, test_count, train_labels, test_labels, saved_at)
         VALUES (1, ?, ?, ?, ?, ?, ?)`,
      ),
      insChunk: db.prepare('INSERT INTO shard_chunk (shard_id, part, seq, bytes) VALUES (1, ?, ?, ?)'),
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
      ack: db.prepare(
        'UPDATE outbox SET acked_at = coalesce(acked_at, ?), outcome = coalesce(outcome, ?), outcome_code = coalesce(outcome_code, ?) WHERE experiment = ? AND round = ?',
      ),
      uploadState: db.prepare('SELECT acked_at, outcome FROM outbox WHERE experiment = ? AND round = ?'),
      setProgress: db.prepare(
        `INSERT INTO progress (experiment, last_round) VALUES (?, ?)
         ON CONFLICT (experiment) DO UPDATE SET last_round = excluded.last_round`,
      ),
      getProgress: db.prepare('SELECT last_round FROM progress WHERE experiment = ?'),
      putTelemetry: db.prepare(
        `INSERT INTO telemetry (experiment, round, json, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (experiment, round) DO UPDATE SET json = excluded.json, created_at = excluded.created_at, sent_at = NULL`,
      ),
      telemetryPending: db.prepare('SELECT json FROM telemetry WHERE experiment = ? AND sent_at IS NULL ORDER BY round'),
      telemetrySent: db.prepare('UPDATE telemetry SET sent_at = coalesce(sent_at, ?) WHERE experiment = ? AND round = ?'),
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
    return this.run('loadShard', () => this.reads.loadShard());
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
    return this.run('latestCheckpoint', () => this.reads.latestCheckpoint(experiment));
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

  markAcked(experiment: string, round: number, outcome: UploadOutcome = 'accepted', code: string | null = null): boolean {
    return this.run('markAcked', () => durably(this.db, () => this.s.ack.run(Date.now(), outcome, code, experiment, round)).changes === 1);
  }

  uploadState(experiment: string, round: number): UploadState | null {
    return this.run('uploadState', () => {
      const row = this.s.uploadState.get(experiment, round) as { acked_at: number | null; outcome: string | null } | undefined;
      if (row === undefined) return null;
      if (row.acked_at === null) return 'pending';
      return row.outcome === 'rejected' ? 'rejected' : 'acked';
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
    return this.run('telemetry', () => this.reads.telemetry(experiment));
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
    return this.run('getMeta', () => this.reads.getMeta(key));
  }

  setMeta(key: string, value: string): void {
    this.run('setMeta', () => {
      checkKey(this.path, 'meta key', key);
      if (typeof value !== 'string') throw storeError(this.path, `meta ${key}: value must be a string`);
      this.s.setMeta.run(key, value);
    });
  }

  saveEvaluation(experiment: string, record: EvaluationRecord): void {
    this.run('saveEvaluation', () => {
      checkKey(this.path, 'experiment', experiment);
      checkRound(this.path, record.round);
      this.s.setMeta.run(evaluationKey(experiment, record.round), JSON.stringify(record));
    });
  }

  evaluation(experiment: string, round: number): EvaluationRecord | null {
    return this.run('evaluation', () => this.reads.evaluation(experiment, round));
  }

  close(): void {
    closeDb(this.db);
  }
}

/** Open (creating and migrating if needed) an agent store; `':memory:'` for a throwaway one. */
export function openAgentStore(path: string, options: AgentStoreOptions = {}): AgentStore {
  return new SqliteAgentStore(path, options);
}
