/**
 * Group commit for the aggregator: accepted uploads, agent status and telemetry wait in a
 * PendingBatch and are committed together (AggregatorStore.commitBatch: one transaction, one
 * fsync), then each is answered (RECEIPT) and acknowledged (PUBACK) — never before its batch is
 * durable. The batch is committed when it reaches `maxBatch` messages, or `maxDelayMs` after
 * its first one (0: once the messages already received are handled), and always before anything
 * that depends on it (a round closing, a resend of a pending upload, stop).
 */
import { TinyProtoError } from '../common/errors.ts';
import type { ClassValues, StatusBody } from '../wire/codec-types.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { CommitPolicy } from './aggregator-types.ts';
import type { AgentFields, BatchResult } from './store-types.ts';

export const BATCH_DEFAULTS: Readonly<CommitPolicy> = Object.freeze({ maxBatch: 1000, maxDelayMs: 0 });

/** Merges and checks a commit policy (E_CONFIG). */
export function commitPolicy(p: Partial<CommitPolicy> = {}): CommitPolicy {
  const out = { ...BATCH_DEFAULTS, ...p };
  if (!Number.isInteger(out.maxBatch) || out.maxBatch < 1 || out.maxBatch > 100_000) {
    throw new TinyProtoError('E_CONFIG', `commit maxBatch must be an integer from 1 to 100000, got ${out.maxBatch}`);
  }
  if (!Number.isFinite(out.maxDelayMs) || out.maxDelayMs < 0 || out.maxDelayMs > 1000) {
    throw new TinyProtoError('E_CONFIG', `commit maxDelayMs must be from 0 to 1000, got ${out.maxDelayMs}`);
  }
  return Object.freeze(out);
}

export type Ack = () => void;

export interface PendingUpload {
  readonly round: number;
  readonly agent: string;
  readonly bytes: Uint8Array;
  readonly receivedAt: number;
  /** Decoded once at intake; added to the round's sums after the commit. */
  readonly prototypes: readonly ClassValues[];
  /** The training-sample count it reports (null: none), noted after the commit. */
  readonly trainSamples: number | null;
  /** What its RECEIPT names. */
  readonly id: { round: number; crc: number };
}

export interface PendingStatus {
  readonly agent: string;
  readonly fields: AgentFields;
  readonly body: StatusBody;
}

export interface PendingTelemetry {
  readonly agent: string;
  readonly round: number;
  readonly record: RoundTelemetry;
  readonly at: number;
}

export interface TakenBatch {
  readonly uploads: PendingUpload[];
  readonly statuses: PendingStatus[];
  readonly telemetry: PendingTelemetry[];
  /** The broker acknowledgements of every message in the batch. */
  readonly acks: Ack[];
}

export class PendingBatch {
  private uploads = new Map<string, PendingUpload>();
  private statuses: PendingStatus[] = [];
  private telemetry: PendingTelemetry[] = [];
  private acks: Ack[] = [];

  get size(): number {
    return this.uploads.size + this.statuses.length + this.telemetry.length;
  }

  hasUpload(agent: string): boolean {
    return this.uploads.has(agent);
  }

  addUpload(u: PendingUpload, ack: Ack | undefined): void {
    this.uploads.set(u.agent, u);
    if (ack) this.acks.push(ack);
  }

  addStatus(s: PendingStatus, ack: Ack | undefined): void {
    this.statuses.push(s);
    if (ack) this.acks.push(ack);
  }

  addTelemetry(t: PendingTelemetry, ack: Ack | undefined): void {
    this.telemetry.push(t);
    if (ack) this.acks.push(ack);
  }

  /** Everything pending, in arrival order per kind; the batch is empty afterwards. */
  take(): TakenBatch {
    const out = { uploads: [...this.uploads.values()], statuses: this.statuses, telemetry: this.telemetry, acks: this.acks };
    this.uploads = new Map();
    this.statuses = [];
    this.telemetry = [];
    this.acks = [];
    return out;
  }
}

/** The store's write of a taken batch. */
export function batchWrite(b: TakenBatch): Parameters<import('./store-types.ts').AggregatorStore['commitBatch']>[1] {
  return {
    uploads: b.uploads.map((u) => ({ round: u.round, agent: u.agent, bytes: u.bytes, receivedAt: u.receivedAt })),
    agents: b.statuses.map((s) => ({ agent: s.agent, fields: s.fields })),
    telemetry: b.telemetry.map((t) => ({ agent: t.agent, round: t.round, record: t.record, at: t.at })),
  };
}

export type { BatchResult };
