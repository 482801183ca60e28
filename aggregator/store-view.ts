/**
 * A read-only view of an aggregator store, for the readers of its file (`tinyproto report`):
 * opened read-only and never migrated, so it can be read while the aggregator runs. It owns
 * the SQL of those reads; the aggregator's own store (./store.ts) shares the statements both need.
 *
 * The view is lenient about what it decodes (a reader decides what a bad record means): an
 * unparsable config, summary or telemetry record comes back as null.
 */
import type { TinyProtoError } from '../common/errors.ts';
import { guard, openStoreReadOnly, storeError, type SqliteDb } from '../storage/sqlite.ts';
import { AGGREGATOR_SCHEMA_VERSION } from './store-schema.ts';

/** The telemetry of one experiment, by round then agent (shared with ./store.ts). */
export const TELEMETRY_SQL = 'SELECT agent, round, json FROM telemetry WHERE experiment = ? ORDER BY round, agent';

export interface ExperimentEntry {
  readonly id: string;
  /** The experiment's config; null when it is not a readable JSON object. */
  readonly config: Record<string, unknown> | null;
}

export interface ClosedRoundEntry {
  readonly round: number;
  /** The aggregator's round summary; null when none or unreadable. */
  readonly summary: Record<string, unknown> | null;
}

export interface TelemetryEntry {
  readonly agent: string;
  readonly round: number;
  /** The record as parsed JSON; null when the text is not JSON. */
  readonly record: unknown;
}

export interface AggregatorStoreView {
  readonly path: string;
  /** Every experiment, in order of creation. */
  experiments(): ExperimentEntry[];
  /** The closed rounds of an experiment, ascending. */
  closedRounds(experiment: string): ClosedRoundEntry[];
  /** False for stores of schema version 1, which have no telemetry table. */
  readonly hasTelemetry: boolean;
  /** The experiment's telemetry records ([] when the store has no telemetry table). */
  telemetry(experiment: string): TelemetryEntry[];
  /** Idempotent. */
  close(): void;
}

function parseJson(text: string | null): unknown {
  if (text === null) return null;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return null;
  }
}

function asObject(v: unknown): Record<string, unknown> | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
}

/**
 * Opens an existing aggregator store read-only. Failures to open (not SQLite, another kind of
 * store, a newer schema) are built by `fail` (default E_STORE naming the file); failures
 * while reading are E_STORE.
 */
export function openAggregatorStoreReadOnly(path: string, fail: (message: string, cause?: unknown) => TinyProtoError = (m, c) => storeError(path, m, c)): AggregatorStoreView {
  const db: SqliteDb = openStoreReadOnly(path, 'aggregator', AGGREGATOR_SCHEMA_VERSION, fail);
  const run = <T>(what: string, fn: () => T): T => guard(db, path, what, fn);
  const hasTelemetry = run('opening', () => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'telemetry'").get() !== undefined);
  return {
    path,
    hasTelemetry,
    experiments: () =>
      run('listing experiments', () =>
        (db.prepare('SELECT id, config FROM experiment ORDER BY created_at, id').all() as { id: string; config: string }[]).map((r) => ({
          id: r.id,
          config: asObject(parseJson(r.config)),
        })),
      ),
    closedRounds: (experiment) =>
      run('listing rounds', () =>
        (db.prepare("SELECT round, summary FROM round WHERE experiment = ? AND status = 'closed' ORDER BY round").all(experiment) as { round: number; summary: string | null }[]).map(
          (r) => ({ round: r.round, summary: asObject(parseJson(r.summary)) }),
        ),
      ),
    telemetry: (experiment) =>
      hasTelemetry
        ? run('reading telemetry', () =>
            (db.prepare(TELEMETRY_SQL).all(experiment) as { agent: string; round: number; json: string }[]).map((r) => ({ agent: r.agent, round: r.round, record: parseJson(r.json) })),
          )
        : [],
    close: () => {
      if (db.open) db.close();
    },
  };
}
