/**
 * Agent store public types: shard cache records, stored messages/checkpoints, the upload
 * outbox and the AgentStore interface. Re-exported from ./store.ts.
 */
import type { ModelState } from '../models/engine.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

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

/** pending: not settled yet; acked: the aggregator holds it (accepted now or earlier); rejected: refused for good. */
export type UploadState = 'pending' | 'acked' | 'rejected';
/** How the aggregator's receipt settled an upload (an upload acked before receipts existed counts as accepted). */
export type UploadOutcome = 'accepted' | 'duplicate' | 'rejected';

/** The agent's evaluation of one round (kept in the store, read by fleet runs, reports and export). */
export interface EvaluationRecord {
  round: number;
  testCount: number;
  accuracyHead: number;
  accuracyPrototype: number | null;
  at: number;
}

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
  /** Settles an upload: acked_at, outcome and code (first one wins; the row stays as history); false when no such upload exists. */
  markAcked(experiment: string, round: number, outcome?: UploadOutcome, code?: string | null): boolean;
  uploadState(experiment: string, round: number): UploadState | null;

  setLastCompletedRound(experiment: string, round: number): void;
  /** 0 when none. */
  lastCompletedRound(experiment: string): number;

  getMeta(key: string): string | null;
  setMeta(key: string, value: string): void;

  /** Keeps the evaluation of (experiment, record.round); saving the same round again replaces it. */
  saveEvaluation(experiment: string, record: EvaluationRecord): void;
  evaluation(experiment: string, round: number): EvaluationRecord | null;

  /** Per-round telemetry: kept on the board, sent to the aggregator (pending until sent). */
  saveTelemetry(experiment: string, round: number, record: RoundTelemetry): void;
  telemetry(experiment: string): RoundTelemetry[];
  pendingTelemetry(experiment: string): RoundTelemetry[];
  markTelemetrySent(experiment: string, round: number): void;

  /** Idempotent. Any later call throws E_STORE. */
  close(): void;
}

export interface AgentStoreOptions {
  /** Pixel BLOB row size for the shard cache (default SHARD_CHUNK_BYTES = 16 MiB). */
  shardChunkBytes?: number;
}
