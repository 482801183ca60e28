/** SQLite check for `tinyproto doctor`: the store's folder takes a durable commit (and how long one takes). */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ok, problem, type CheckResult } from '../common/check.ts';

/**
 * Creates a scratch database next to `storePath`, makes 5 commits with synchronous=FULL (as the
 * outbox does), deletes it, and reports the median commit time. The store itself is not opened
 * for writing (a running agent may hold it).
 */
export function sqliteCheck(storePath: string, commits = 5): CheckResult {
  if (storePath === ':memory:') return ok('sqlite', 'in-memory store (nothing kept across restarts)');
  const dir = dirname(resolve(storePath));
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  const scratch = join(dir, `.tinyproto-doctor-${process.pid}.db`);
  const db = new Database(scratch);
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.exec('CREATE TABLE t (i INTEGER)');
    const ins = db.prepare('INSERT INTO t (i) VALUES (?)');
    const ms: number[] = [];
    for (let i = 0; i < commits; i++) {
      const t0 = performance.now();
      db.transaction(() => ins.run(i))();
      ms.push(performance.now() - t0);
    }
    const n = (db.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n;
    if (n !== commits) return problem('sqlite', `${dir}: wrote ${commits} rows, read back ${n}`);
    ms.sort((a, b) => a - b);
    const existing = existsSync(storePath) ? `store ${storePath} exists` : `store ${storePath} will be created`;
    return ok('sqlite', `SQLite ${(db.prepare('SELECT sqlite_version() AS v').get() as { v: string }).v} writable in ${dir}; durable commit ${ms[Math.floor(ms.length / 2)]!.toFixed(1)} ms (median of ${commits}); ${existing}`);
  } finally {
    db.close();
    for (const f of [scratch, `${scratch}-wal`, `${scratch}-shm`]) rmSync(f, { force: true });
  }
}
