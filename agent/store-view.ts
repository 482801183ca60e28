/**
 * The agent store's reads, in one place: the SQL and row decoding of the queries the agent
 * itself (agent/store.ts) and the readers of its file (`tinyproto export`, fleet and report
 * evaluations) share, and the read-only view those readers open.
 *
 * The view opens an existing store read-only, without migrating it or checkpointing its WAL:
 * it may belong to a running agent. Statements are prepared on first use, so a store of an
 * older schema (no telemetry table) can still be read for what it has.
 */
import { existsSync, statSync } from 'node:fs';
import type Database from 'better-sqlite3';
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { fromBlob, guard, openStoreReadOnly, parseJsonObject, storeError, type SqliteDb } from '../storage/sqlite.ts';
import { blobToInt32, parseShardMeta } from './store-codec.ts';
import { decodeState } from '../storage/model-state.ts';
import { AGENT_SCHEMA_VERSION } from './store-schema.ts';
import type { EvaluationRecord, ShardPart, StoredCheckpoint, StoredShard, UploadOutcome, UploadState } from './store-types.ts';

/** The meta key under which the agent keeps its evaluation of (experiment, round). */
export function evaluationKey(experiment: string, round: number): string {
  return `${evaluationPrefix(experiment)}${round}`;
}

function evaluationPrefix(experiment: string): string {
  return `eval:${experiment}:`;
}

/** An experiment's latest checkpointed round. */
export interface CheckpointSummary {
  readonly experiment: string;
  readonly round: number;
}

/** Which parts of the cached shard to read: both, the test part only, or neither (parts not read are left empty). */
export type ShardParts = 'all' | 'test' | 'meta';

/** The SQL of the agent store's reads, over any connection (read-write or read-only). */
export class AgentStoreReads {
  private readonly statements = new Map<string, Database.Statement>();

  constructor(
    private readonly db: SqliteDb,
    readonly path: string,
  ) {}

  private q(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (s === undefined) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }

  hasTable(name: string): boolean {
    return this.q("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
  }

  /** The cached shard (null when none); one read transaction, so the parts match the metadata. */
  loadShard(parts: ShardParts = 'all'): StoredShard | null {
    return this.db.transaction((): StoredShard | null => {
      const row = this.q('SELECT meta_json, train_count, test_count, train_labels, test_labels FROM shard WHERE id = 1').get() as
        | { meta_json: string; train_count: number; test_count: number; train_labels: unknown; test_labels: unknown }
        | undefined;
      if (row === undefined) return null;
      const meta = parseShardMeta(this.path, row.meta_json);
      const per = meta.height * meta.width * meta.channels;
      const part = (name: 'train' | 'test', count: number, labelsBlob: unknown): ShardPart => {
        const chunks = this.q('SELECT seq, bytes FROM shard_chunk WHERE shard_id = 1 AND part = ? ORDER BY seq').all(name) as { seq: number; bytes: unknown }[];
        const expected = count * per;
        let total = 0;
        const bufs = chunks.map((c, i) => {
          if (c.seq !== i) throw storeError(this.path, `shard ${name}: chunk ${i} missing`);
          const b = fromBlob(c.bytes, this.path, `shard ${name} chunk ${i}`);
          total += b.byteLength;
          return b;
        });
        if (total !== expected) {
          throw storeError(this.path, `shard ${name}: ${total} pixel bytes stored, expected ${count}*${meta.height}*${meta.width}*${meta.channels} = ${expected}`);
        }
        const pixels = new Uint8Array(expected);
        let off = 0;
        for (const b of bufs) {
          pixels.set(b, off);
          off += b.byteLength;
        }
        const labels = blobToInt32(fromBlob(labelsBlob, this.path, `shard ${name} labels`), count, this.path, `shard ${name} labels`);
        for (const l of labels) if (l < 0 || l >= meta.numClasses) throw storeError(this.path, `shard ${name}: label ${l} not in [0, ${meta.numClasses})`);
        return { pixels, labels };
      };
      const empty: ShardPart = { pixels: new Uint8Array(0), labels: new Int32Array(0) };
      return {
        meta,
        train: parts === 'all' ? part('train', row.train_count, row.train_labels) : empty,
        test: parts !== 'meta' ? part('test', row.test_count, row.test_labels) : empty,
      };
    })();
  }

  /** The latest checkpoint; a corrupt one is E_STORE "corrupt checkpoint (experiment E, round R): ...". */
  latestCheckpoint(experiment: string): StoredCheckpoint | null {
    const row = this.q('SELECT round, manifest, data, extra FROM checkpoint WHERE experiment = ? ORDER BY round DESC LIMIT 1').get(experiment) as
      | { round: number; manifest: string; data: unknown; extra: string }
      | undefined;
    if (row === undefined) return null;
    try {
      return {
        round: row.round,
        state: decodeState(this.path, row.manifest, fromBlob(row.data, this.path, 'checkpoint data')),
        extra: parseJsonObject(row.extra, this.path, 'checkpoint extra'),
      };
    } catch (e) {
      if (!isTinyProtoError(e, 'E_STORE')) throw e;
      throw new TinyProtoError('E_STORE', `corrupt checkpoint (experiment ${experiment}, round ${row.round}): ${e.message}`, e.details);
    }
  }

  /** Each experiment with a checkpoint and its latest checkpointed round, most recently saved first. */
  checkpointSummaries(): CheckpointSummary[] {
    return this.q('SELECT experiment, max(round) AS round FROM checkpoint GROUP BY experiment ORDER BY max(saved_at) DESC, experiment').all() as CheckpointSummary[];
  }

  /** Every experiment the store has heard of (checkpoints, masks, messages, progress). */
  experimentsSeen(): string[] {
    return (
      this.q(
        `SELECT experiment FROM checkpoint UNION SELECT experiment FROM progress UNION SELECT experiment FROM masks
         UNION SELECT experiment FROM round_msg UNION SELECT experiment FROM global_msg ORDER BY experiment`,
      ).all() as { experiment: string }[]
    ).map((r) => r.experiment);
  }

  /** The experiment's telemetry records, by round. */
  telemetry(experiment: string): RoundTelemetry[] {
    return (this.q('SELECT json FROM telemetry WHERE experiment = ? ORDER BY round').all(experiment) as { json: string }[]).map(
      (r) => JSON.parse(r.json) as RoundTelemetry,
    );
  }

  /** The telemetry record of one round; null when none, or when it is unreadable. */
  telemetryOf(experiment: string, round: number): RoundTelemetry | null {
    if (!this.hasTable('telemetry')) return null;
    const row = this.q('SELECT json FROM telemetry WHERE experiment = ? AND round = ?').get(experiment, round) as { json: string } | undefined;
    if (row === undefined) return null;
    try {
      return JSON.parse(row.json) as RoundTelemetry;
    } catch {
      return null;
    }
  }

  getMeta(key: string): string | null {
    const row = this.q('SELECT value FROM meta WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value ?? null;
  }

  /** Every upload the agent produced for the experiment, by round, with how it was settled. */
  outbox(experiment: string): OutboxEntry[] {
    const rows = this.q('SELECT round, bytes, attempts, acked_at, outcome, outcome_code FROM outbox WHERE experiment = ? ORDER BY round').all(experiment) as {
      round: number;
      bytes: unknown;
      attempts: number;
      acked_at: number | null;
      outcome: string | null;
      outcome_code: string | null;
    }[];
    return rows.map((r) => ({
      round: r.round,
      bytes: fromBlob(r.bytes, this.path, 'upload'),
      attempts: r.attempts,
      state: r.acked_at === null ? 'pending' : r.outcome === 'rejected' ? 'rejected' : 'acked',
      outcome: (r.outcome as UploadOutcome | null) ?? (r.acked_at === null ? null : 'accepted'),
      code: r.outcome_code,
    }));
  }

  /** The evaluation the agent recorded for (experiment, round); null when none, or when it is unreadable. */
  evaluation(experiment: string, round: number): EvaluationRecord | null {
    const text = this.getMeta(evaluationKey(experiment, round));
    return text === null ? null : parseEvaluation(text, round);
  }

  /** Every evaluation the agent recorded for the experiment, by round (unreadable records left out). */
  evaluations(experiment: string): EvaluationRecord[] {
    const prefix = evaluationPrefix(experiment);
    const rows = this.q('SELECT key, value FROM meta WHERE substr(key, 1, length(?)) = ?').all(prefix, prefix) as { key: string; value: string }[];
    const out: EvaluationRecord[] = [];
    for (const r of rows) {
      const round = Number(r.key.slice(prefix.length));
      if (!Number.isInteger(round) || round < 1) continue;
      const e = parseEvaluation(r.value, round);
      if (e) out.push(e);
    }
    return out.sort((a, b) => a.round - b.round);
  }
}

function parseEvaluation(text: string, round: number): EvaluationRecord | null {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return null;
  }
  if (v === null || typeof v !== 'object') return null;
  const e = v as Partial<EvaluationRecord>;
  if (typeof e.accuracyHead !== 'number' || typeof e.testCount !== 'number') return null;
  return {
    round,
    testCount: e.testCount,
    accuracyHead: e.accuracyHead,
    accuracyPrototype: typeof e.accuracyPrototype === 'number' ? e.accuracyPrototype : null,
    at: typeof e.at === 'number' ? e.at : 0,
  };
}

/** One upload in the agent's outbox (kept after it is settled, as history). */
export interface OutboxEntry {
  round: number;
  bytes: Uint8Array;
  attempts: number;
  state: UploadState;
  outcome: UploadOutcome | null;
  code: string | null;
}

/** What a reader of an agent's file may ask of it; every failure is E_STORE naming the file. */
export interface AgentStoreView {
  readonly path: string;
  checkpointSummaries(): CheckpointSummary[];
  experimentsSeen(): string[];
  latestCheckpoint(experiment: string): StoredCheckpoint | null;
  loadShard(parts?: ShardParts): StoredShard | null;
  telemetryOf(experiment: string, round: number): RoundTelemetry | null;
  evaluation(experiment: string, round: number): EvaluationRecord | null;
  evaluations(experiment: string): EvaluationRecord[];
  getMeta(key: string): string | null;
  outbox(experiment: string): OutboxEntry[];
  /** Idempotent. */
  close(): void;
}

/**
 * Opens an agent's store read-only (see the file comment): E_CONFIG when the file is missing or
 * a directory, E_STORE when it is not an agent store or has a newer schema.
 */
export function openAgentStoreReadOnly(path: string): AgentStoreView {
  if (!existsSync(path)) throw new TinyProtoError('E_CONFIG', `${path}: no such file (give the agent's SQLite store, as in tinyproto agent --store)`);
  if (statSync(path).isDirectory()) throw new TinyProtoError('E_CONFIG', `${path}: is a directory, not an agent store`);
  const db = openStoreReadOnly(path, 'agent', AGENT_SCHEMA_VERSION, (message, cause) => storeError(path, message, cause));
  const reads = new AgentStoreReads(db, path);
  const run = <T>(what: string, fn: () => T): T => guard(db, path, what, fn);
  return {
    path,
    checkpointSummaries: () => run('listing checkpoints', () => reads.checkpointSummaries()),
    experimentsSeen: () => run('listing experiments', () => reads.experimentsSeen()),
    latestCheckpoint: (experiment) => run('reading the checkpoint', () => reads.latestCheckpoint(experiment)),
    loadShard: (parts) => run('reading the cached shard', () => reads.loadShard(parts)),
    telemetryOf: (experiment, round) => run('reading telemetry', () => reads.telemetryOf(experiment, round)),
    evaluation: (experiment, round) => run('reading evaluations', () => reads.evaluation(experiment, round)),
    evaluations: (experiment) => run('reading evaluations', () => reads.evaluations(experiment)),
    getMeta: (key) => run('reading meta', () => reads.getMeta(key)),
    outbox: (experiment) => run('reading the outbox', () => reads.outbox(experiment)),
    close: () => {
      if (db.open) db.close();
    },
  };
}
