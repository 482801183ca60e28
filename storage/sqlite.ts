/**
 * Shared better-sqlite3 plumbing for the agent and aggregator stores: opening a file
 * with the right pragmas, recognising foreign / corrupt / too-new files, running schema
 * migrations, durable (synchronous=FULL) commits and mapping SQLite failures to
 * TinyProtoError('E_STORE').
 *
 * Pragmas: journal_mode=WAL (files only; ':memory:' keeps the in-memory journal),
 * synchronous=NORMAL by default, switched to FULL around the writes a caller relies on
 * for "nothing accepted is ever lost" (see `durably`), foreign_keys=ON, busy_timeout=5000.
 * The schema version lives in PRAGMA user_version and the store kind in PRAGMA
 * application_id, so an agent store is never opened as an aggregator store by mistake.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { TinyProtoError } from '../common/errors.ts';

export type SqliteDb = Database.Database;

/** One migration step: migrations[i] takes a database from schema version i to i + 1. */
export type Migration = (db: SqliteDb) => void;

export interface StoreSchema {
  /** Human name used in messages, e.g. 'agent' or 'aggregator'. */
  readonly kind: string;
  /** PRAGMA application_id written on creation (a 32-bit signed integer). */
  readonly applicationId: number;
  readonly migrations: readonly Migration[];
}

/** application_id values of the known tinyproto stores (ASCII 'TPAG', 'TPSV' and 'TPSM'). */
export const APPLICATION_IDS: Readonly<Record<string, number>> = {
  agent: 0x54504147,
  aggregator: 0x54505356,
  simulation: 0x5450534d,
};

const MEMORY_PATH = ':memory:';

export function storeError(path: string, message: string, cause?: unknown): TinyProtoError {
  const details: Record<string, unknown> = { path };
  if (cause instanceof Error) {
    details['cause'] = cause.message;
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string') details['sqliteCode'] = code;
  }
  return new TinyProtoError('E_STORE', `${path}: ${message}`, details);
}

function isSqliteError(e: unknown): e is Error & { code: string } {
  return e instanceof Database.SqliteError;
}

/**
 * Run `fn`, passing TinyProtoErrors through and turning SQLite failures (disk full,
 * busy, corrupt page, closed connection ...) into E_STORE naming the file.
 */
export function guard<T>(db: SqliteDb, path: string, what: string, fn: () => T): T {
  if (!db.open) throw storeError(path, `${what}: store is closed`);
  try {
    return fn();
  } catch (e) {
    if (e instanceof TinyProtoError) throw e;
    if (isSqliteError(e)) throw storeError(path, `${what} failed: ${e.message}`, e);
    throw e;
  }
}

/**
 * Run `fn` inside one transaction committed with synchronous=FULL, so the commit has
 * reached stable storage (not just the OS) before this returns. Used for the outbox,
 * acks, progress, accepted uploads and round closing.
 */
export function durably<T>(db: SqliteDb, fn: () => T): T {
  if (db.memory) return db.transaction(fn)();
  db.pragma('synchronous = FULL');
  try {
    return db.transaction(fn)();
  } finally {
    db.pragma('synchronous = NORMAL');
  }
}

/** Bind a Uint8Array as a BLOB without copying. */
export function toBlob(u: Uint8Array): Buffer {
  return Buffer.from(u.buffer, u.byteOffset, u.byteLength);
}

/** A BLOB column read back as a plain (copied, detached from the driver) Uint8Array. */
export function fromBlob(v: unknown, path: string, what: string): Uint8Array {
  if (v instanceof Uint8Array) return new Uint8Array(v);
  if (v === null || v === undefined) throw storeError(path, `${what}: missing BLOB`);
  throw storeError(path, `${what}: expected a BLOB, got ${typeof v}`);
}

export function fromNullableBlob(v: unknown, path: string, what: string): Uint8Array | null {
  return v === null || v === undefined ? null : fromBlob(v, path, what);
}

/** JSON with object keys sorted, so equal configs compare equal as strings. */
export function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) => {
    if (val !== null && typeof val === 'object' && !Array.isArray(val) && !ArrayBuffer.isView(val)) {
      const o = val as Record<string, unknown>;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return val;
  });
}

export function parseJsonObject(text: unknown, path: string, what: string): Record<string, unknown> {
  if (typeof text !== 'string') throw storeError(path, `${what}: missing JSON`);
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw storeError(path, `${what}: invalid JSON`, e);
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw storeError(path, `${what}: not a JSON object`);
  return v as Record<string, unknown>;
}

/**
 * Open (creating if needed) a store database, apply pragmas and migrate it to the latest
 * schema version. Throws E_STORE when the file is not SQLite, is some other
 * application's database, is the other kind of tinyproto store, or has a schema newer
 * than this code understands.
 */
export function openStoreDb(path: string, schema: StoreSchema): SqliteDb {
  const target = schema.migrations.length;
  const memory = path === MEMORY_PATH;
  let db: SqliteDb;
  try {
    if (!memory && path !== '') mkdirSync(dirname(path), { recursive: true });
    db = new Database(path);
  } catch (e) {
    throw storeError(path, `cannot open ${schema.kind} store: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  try {
    let appId: number;
    let version: number;
    let tables: number;
    try {
      appId = Number(db.pragma('application_id', { simple: true }));
      version = Number(db.pragma('user_version', { simple: true }));
      const row = db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'").get() as { n: number };
      tables = row.n;
    } catch (e) {
      if (isSqliteError(e) && (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT')) {
        throw storeError(path, `not a tinyproto ${schema.kind} store (${e.message})`, e);
      }
      throw e;
    }
    if (appId !== schema.applicationId) {
      const other = Object.entries(APPLICATION_IDS).find(([, id]) => id === appId)?.[0];
      if (other !== undefined) {
        throw storeError(path, `is a tinyproto ${other} store, cannot open it as the ${schema.kind} store`);
      }
      if (appId !== 0 || tables > 0 || version !== 0) {
        throw storeError(path, `not a tinyproto ${schema.kind} store (foreign database, application_id=${appId})`);
      }
    }
    if (version > target) {
      throw storeError(
        path,
        `${schema.kind} store has schema version ${version}, newer than supported version ${target}; upgrade tinyproto`,
        undefined,
      );
    }
    if (!memory) db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db, schema, version);
    return db;
  } catch (e) {
    if (db.open) db.close();
    if (e instanceof TinyProtoError) throw e;
    if (isSqliteError(e)) throw storeError(path, `cannot open ${schema.kind} store: ${e.message}`, e);
    throw e;
  }
}

/** Apply migrations[from..] in one transaction and stamp user_version/application_id. */
function migrate(db: SqliteDb, schema: StoreSchema, from: number): void {
  const target = schema.migrations.length;
  if (from >= target) return;
  db.transaction(() => {
    for (let v = from; v < target; v++) schema.migrations[v]!(db);
    // PRAGMA arguments cannot be bound; both values are integers we control.
    db.pragma(`user_version = ${Math.trunc(target)}`);
    db.pragma(`application_id = ${Math.trunc(schema.applicationId)}`);
  })();
}

export function closeDb(db: SqliteDb): void {
  if (!db.open) return;
  if (!db.memory) {
    try {
      db.pragma('wal_checkpoint(TRUNCATE)');
    } catch {
      // best effort: a busy checkpoint only leaves the WAL file around, nothing is lost
    }
  }
  db.close();
}

/**
 * Opens an existing tinyproto store read-only, without migrating it (it may belong to a running
 * process), after checking that it is a `kind` store of a schema version this code reads. Every
 * failure is built by `fail`, so that each caller reports it with its own error code.
 */
export function openStoreReadOnly(path: string, kind: 'agent' | 'aggregator', maxVersion: number, fail: (message: string, cause?: unknown) => TinyProtoError): SqliteDb {
  let db: SqliteDb;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true });
  } catch (e) {
    throw fail(`cannot open as SQLite (${e instanceof Error ? e.message : String(e)})`, e);
  }
  try {
    let appId: number;
    let version: number;
    try {
      appId = Number(db.pragma('application_id', { simple: true }));
      version = Number(db.pragma('user_version', { simple: true }));
    } catch (e) {
      throw fail(`is not a tinyproto ${kind} store (${e instanceof Error ? e.message : String(e)})`, e);
    }
    if (appId !== APPLICATION_IDS[kind]) {
      const other = Object.entries(APPLICATION_IDS).find(([, id]) => id === appId)?.[0];
      throw fail(other !== undefined ? `is a tinyproto ${other} store, not an ${kind} store` : `is not a tinyproto ${kind} store (application_id=${appId})`);
    }
    if (version > maxVersion) throw fail(`${kind} store has schema version ${version}, newer than supported version ${maxVersion}; upgrade tinyproto`);
    db.pragma('busy_timeout = 2000');
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
