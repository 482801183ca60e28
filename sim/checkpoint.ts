/**
 * A simulation's checkpoint, written after every round so that a long run can be stopped and
 * continued (`simulate --checkpoint FILE --resume`): the rounds so far, every client's model
 * state, the aggregator's global prototypes and the ones the clients received. One SQLite file
 * (application_id 'TPSM'); each save replaces the previous one in one durable transaction, so a
 * run killed while saving resumes from the round before. The store owns its SQL.
 *
 * A checkpoint belongs to one experiment setup: `setupKey` is every setting that changes what
 * the run computes (not rounds, evaluation schedule, stopping rule, workers or threads), and a
 * checkpoint of another setup is refused with the first field that differs.
 */
import { APPLICATION_IDS, canonicalJson, closeDb, durably, fromBlob, guard, openStoreDb, storeError, toBlob, type Migration, type SqliteDb, type StoreSchema } from '../storage/sqlite.ts';
import { decodeState, encodeState } from '../storage/model-state.ts';
import { TinyProtoError } from '../common/errors.ts';
import type { ModelState } from '../models/engine.ts';
import type { SimConfig } from './config.ts';
import { IMPROVEMENT_FIELDS, SETUP_DEFAULTS } from '../method/experiment.ts';
import type { RoundRecord } from './records.ts';

/** Settings that do not change what a run computes, only how long or how fast it runs. */
const NOT_SETUP: readonly (keyof SimConfig)[] = ['rounds', 'evalEvery', 'plateau', 'plateauDelta', 'checkpoint', 'resume', 'workers', 'threads'];

/** Simulation settings added after checkpoints were written, with the default that reproduces those runs. */
const LATER_DEFAULTS: Readonly<Partial<SimConfig>> = Object.freeze({ prototypeAggregation: 'scaled' });

/**
 * The setup a checkpoint belongs to, as canonical JSON. The improvement options count only when
 * they differ from their defaults, so a checkpoint written before they existed still resumes.
 */
export function setupKey(cfg: SimConfig): string {
  const out: Record<string, unknown> = {};
  const optional: Readonly<Record<string, unknown>> = { ...Object.fromEntries(IMPROVEMENT_FIELDS.map((k) => [k, SETUP_DEFAULTS[k]])), ...LATER_DEFAULTS };
  for (const [k, v] of Object.entries(cfg)) {
    if (NOT_SETUP.includes(k as keyof SimConfig)) continue;
    if (Object.hasOwn(optional, k) && v === optional[k]) continue;
    out[k] = v;
  }
  return canonicalJson(out);
}

export interface SimCheckpoint {
  /** The last round completed. */
  readonly round: number;
  readonly records: readonly RoundRecord[];
  /** Client i's model state, in client order. */
  readonly states: readonly ModelState[];
  /** The aggregator's global prototypes (class -> values). */
  readonly aggregate: ReadonlyMap<number, Float32Array>;
  /** What the clients received and train against (after the wire's value type); null before any. */
  readonly received: ReadonlyMap<number, Float32Array> | null;
}

const MIGRATIONS: readonly Migration[] = [
  (db) => {
    db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      CREATE TABLE round_record (round INTEGER PRIMARY KEY, record TEXT NOT NULL);
      CREATE TABLE client_state (client INTEGER PRIMARY KEY, manifest TEXT NOT NULL, data BLOB NOT NULL);
      CREATE TABLE prototype (
        kind     TEXT NOT NULL CHECK (kind IN ('aggregate', 'received')),
        class_id INTEGER NOT NULL,
        vals     BLOB NOT NULL,
        PRIMARY KEY (kind, class_id)
      );
    `);
  },
];

const SCHEMA: StoreSchema = { kind: 'simulation', applicationId: APPLICATION_IDS['simulation']!, migrations: MIGRATIONS };

function floatsToBlob(v: Float32Array): Buffer {
  return toBlob(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
}

function blobToFloats(b: Uint8Array, path: string, what: string): Float32Array {
  if (b.byteLength % 4 !== 0) throw storeError(path, `${what}: ${b.byteLength} bytes is not a multiple of 4`);
  const out = new Float32Array(b.byteLength / 4);
  new Uint8Array(out.buffer).set(b);
  return out;
}

/** Names the first top-level field where two setup keys differ. */
function firstDifference(a: string, b: string): string {
  const x = JSON.parse(a) as Record<string, unknown>;
  const y = JSON.parse(b) as Record<string, unknown>;
  for (const k of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
    const l = JSON.stringify(x[k]);
    const r = JSON.stringify(y[k]);
    if (l !== r) return `${k}: ${l ?? 'absent'} in the checkpoint, ${r ?? 'absent'} now`;
  }
  return 'no field differs';
}

export class SimCheckpointStore {
  private readonly db: SqliteDb;

  private constructor(readonly path: string) {
    this.db = openStoreDb(path, SCHEMA);
  }

  static open(path: string): SimCheckpointStore {
    return new SimCheckpointStore(path);
  }

  /** Replaces the checkpoint, durably. */
  save(key: string, cp: SimCheckpoint): void {
    if (cp.records.length !== cp.round) throw storeError(this.path, `checkpoint of round ${cp.round} with ${cp.records.length} round records`);
    guard(this.db, this.path, 'save checkpoint', () =>
      durably(this.db, () => {
        for (const t of ['meta', 'round_record', 'client_state', 'prototype']) this.db.prepare(`DELETE FROM ${t}`).run();
        const meta = this.db.prepare('INSERT INTO meta (key, value) VALUES (?, ?)');
        meta.run('setup', key);
        meta.run('round', String(cp.round));
        meta.run('received', cp.received === null ? 'none' : 'some');
        const rec = this.db.prepare('INSERT INTO round_record (round, record) VALUES (?, ?)');
        for (const r of cp.records) rec.run(r.round, JSON.stringify(r));
        const st = this.db.prepare('INSERT INTO client_state (client, manifest, data) VALUES (?, ?, ?)');
        cp.states.forEach((s, i) => {
          const { manifest, data } = encodeState(this.path, s);
          st.run(i, manifest, data);
        });
        const pr = this.db.prepare('INSERT INTO prototype (kind, class_id, vals) VALUES (?, ?, ?)');
        for (const [c, v] of cp.aggregate) pr.run('aggregate', c, floatsToBlob(v));
        for (const [c, v] of cp.received ?? []) pr.run('received', c, floatsToBlob(v));
      }),
    );
  }

  /** The checkpoint, or null when none was saved; E_CONFIG when it belongs to another setup. */
  load(key: string): SimCheckpoint | null {
    return guard(this.db, this.path, 'load checkpoint', () => {
      const meta = new Map((this.db.prepare('SELECT key, value FROM meta').all() as { key: string; value: string }[]).map((r) => [r.key, r.value]));
      const saved = meta.get('setup');
      if (saved === undefined) return null;
      if (saved !== key) throw new TinyProtoError('E_CONFIG', `${this.path}: the checkpoint belongs to another experiment setup (${firstDifference(saved, key)}); resume with the same settings or use another --checkpoint`);
      const round = Number(meta.get('round'));
      if (!Number.isSafeInteger(round) || round < 0) throw storeError(this.path, `checkpoint round ${String(meta.get('round'))}`);
      const records = (this.db.prepare('SELECT round, record FROM round_record ORDER BY round').all() as { round: number; record: string }[]).map((r) => JSON.parse(r.record) as RoundRecord);
      if (records.length !== round || records.some((r, i) => r.round !== i + 1)) throw storeError(this.path, `checkpoint of round ${round} holds ${records.length} round records`);
      const states = (this.db.prepare('SELECT client, manifest, data FROM client_state ORDER BY client').all() as { client: number; manifest: string; data: unknown }[]).map((r, i) => {
        if (r.client !== i) throw storeError(this.path, `checkpoint: client states are not 0..n-1 (found ${r.client} at ${i})`);
        return decodeState(this.path, r.manifest, fromBlob(r.data, this.path, 'client state'));
      });
      const aggregate = new Map<number, Float32Array>();
      const received = new Map<number, Float32Array>();
      for (const r of this.db.prepare('SELECT kind, class_id, vals FROM prototype ORDER BY kind, class_id').all() as { kind: string; class_id: number; vals: unknown }[]) {
        (r.kind === 'aggregate' ? aggregate : received).set(r.class_id, blobToFloats(fromBlob(r.vals, this.path, 'prototype'), this.path, `prototype ${r.class_id}`));
      }
      return { round, records, states, aggregate, received: meta.get('received') === 'some' ? received : null };
    });
  }

  close(): void {
    closeDb(this.db);
  }
}
