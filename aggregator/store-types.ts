/**
 * Aggregator store public types: experiment/round/upload/rejection/agent records and the
 * AggregatorStore interface. Re-exported from ./store.ts.
 */
import type { AggregatorKeyStore } from './store-keys-types.ts';
import type { AggregatorPartialStore } from './store-partials-types.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

export type ExperimentStatus = 'running' | 'finished';
export type RoundStatus = 'open' | 'closed';

export interface ExperimentRecord {
  id: string;
  config: Record<string, unknown>;
  masksBytes: Uint8Array | null;
  /** ms since epoch */
  createdAt: number;
  status: ExperimentStatus;
  currentRound: number;
}

export interface RoundRecord {
  round: number;
  status: RoundStatus;
  openedAt: number;
  deadlineMs: number;
  closedAt: number | null;
  announcementBytes: Uint8Array;
  globalBytes: Uint8Array | null;
  /** Number of accepted uploads for this round. */
  uploads: number;
  /** closeRound's summary; null while open. */
  summary: Record<string, unknown> | null;
}

/** A round without its BLOBs, for reports. */
export interface RoundSummary {
  round: number;
  status: RoundStatus;
  openedAt: number;
  deadlineMs: number;
  closedAt: number | null;
  uploads: number;
  announcementSize: number;
  globalSize: number | null;
  summary: Record<string, unknown> | null;
}

export interface UploadRecord {
  agent: string;
  bytes: Uint8Array;
  receivedAt: number;
}

export interface RejectionRecord {
  id: number;
  round: number | null;
  agent: string | null;
  code: string;
  message: string;
  at: number;
}

export interface AgentFields {
  family?: string;
  state?: string;
  lastSeen: number;
  lastRound?: number;
}

export interface AgentRecord {
  agent: string;
  family: string | null;
  state: string | null;
  firstSeen: number;
  lastSeen: number;
  lastRound: number | null;
}

/** Writes committed together by AggregatorStore.commitBatch (group commit). */
export interface BatchWrite {
  readonly uploads: ReadonlyArray<{ round: number; agent: string; bytes: Uint8Array; receivedAt: number }>;
  readonly agents: ReadonlyArray<{ agent: string; fields: AgentFields }>;
  readonly telemetry: ReadonlyArray<{ agent: string; round: number; record: RoundTelemetry; at: number }>;
}

/** Per upload and per telemetry record of a BatchWrite, in order. */
export interface BatchResult {
  readonly uploads: ('accepted' | 'duplicate')[];
  readonly telemetry: ('accepted' | 'duplicate')[];
}

export interface AggregatorStore {
  readonly path: string;

  /**
   * Idempotent for an identical config and masks (compared canonically); E_STORE if the
   * experiment exists with a different config or masks.
   */
  createExperiment(id: string, config: Record<string, unknown>, masksBytes: Uint8Array | null): void;
  getExperiment(id: string): ExperimentRecord | null;
  /** E_STORE for an unknown experiment. */
  setCurrentRound(id: string, round: number): void;
  /** E_STORE for an unknown experiment; idempotent. */
  finishExperiment(id: string): void;

  /**
   * Opens a round and advances the experiment's currentRound to it (one transaction).
   * Re-opening the same round with identical announcement bytes is a no-op; with other
   * bytes, or after it was closed, E_STORE. Unknown experiment: E_STORE.
   */
  openRound(experiment: string, round: number, announcementBytes: Uint8Array, deadlineMs: number): void;
  getRound(experiment: string, round: number): RoundRecord | null;
  /** Atomically marks the round closed with its global bytes and summary. E_STORE if unknown or already closed. */
  closeRound(experiment: string, round: number, globalBytes: Uint8Array | null, summary: Record<string, unknown>): void;

  /** 'duplicate' when (experiment, round, agent) already has an upload (never replaced). Unknown experiment: E_STORE. */
  recordUpload(experiment: string, round: number, agent: string, bytes: Uint8Array, receivedAt: number): 'accepted' | 'duplicate';
  /**
   * Group commit: every upload, agent update and telemetry record of the batch in ONE durable
   * (synchronous=FULL) transaction, so a batch costs one fsync; each item gives the same result
   * as its single-item method would. Every item is checked first (E_STORE): a bad one commits
   * nothing.
   */
  commitBatch(experiment: string, batch: BatchWrite): BatchResult;
  /** Whether (experiment, round, agent) has an upload. */
  hasUpload(experiment: string, round: number, agent: string): boolean;
  /** Ordered by receivedAt, then agent. */
  uploadsFor(experiment: string, round: number): UploadRecord[];

  recordRejection(experiment: string, round: number | null, agent: string | null, code: string, message: string, at: number): void;
  rejectionCounts(experiment: string): Record<string, number>;
  /** Newest first, at most `limit`. */
  rejections(experiment: string, limit: number): RejectionRecord[];

  /** Insert or update; omitted optional fields keep their stored value. */
  upsertAgent(experiment: string, agent: string, fields: AgentFields): void;
  /** Ordered by agent id. */
  agents(experiment: string): AgentRecord[];

  /** Global bytes of the highest closed round that has them. */
  latestGlobal(experiment: string): { round: number; bytes: Uint8Array } | null;
  /** Ordered by round. */
  rounds(experiment: string): RoundSummary[];

  /**
   * Stores an agent's telemetry for a round as JSON. 'duplicate' when (experiment, agent, round)
   * already has a record (never replaced). E_STORE for an unknown experiment, or when the
   * record's own experiment/agent/round differ from the arguments.
   */
  recordTelemetry(experiment: string, agent: string, round: number, record: RoundTelemetry, at: number): 'accepted' | 'duplicate';
  /** Ordered by round, then agent. */
  telemetry(experiment: string): RoundTelemetry[];

  /** The aggregator's signing key and the agents' public keys (aggregator/store-keys.ts). */
  readonly keys: AggregatorKeyStore;
  /** Relays' PARTIAL frames (aggregator/store-partials.ts). */
  readonly partials: AggregatorPartialStore;

  /** Idempotent. Any later call throws E_STORE. */
  close(): void;
}
