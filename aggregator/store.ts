/**
 * Aggregator-side persistent state (SQLite via better-sqlite3): experiments, rounds
 * (announcement and global-prototype wire bytes), accepted uploads, rejections, agents and
 * the agents' per-round telemetry; keys (store-keys.ts) and relays' partial sums (store-partials.ts).
 *
 * Every write commits before the method returns. Accepted uploads, round open/close,
 * experiment creation/progress commit with synchronous=FULL (storage/sqlite.ts); the
 * bookkeeping writes (rejections, agents, telemetry) use synchronous=NORMAL.
 */
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { canonicalJson, closeDb, durably, fromBlob, fromNullableBlob, guard, openStoreDb, parseJsonObject, storeError, toBlob, type SqliteDb } from '../storage/sqlite.ts';
import { agentRow, checkAgentFields, checkId, checkRound, checkTime, sameBytes, telemetryJson, type RoundRow } from './store-internal.ts';
import { AGGREGATOR_SCHEMA } from './store-schema.ts';
import { SqliteAggregatorKeys } from './store-keys.ts';
import { SqlitePartials } from './store-partials.ts';
import { TELEMETRY_SQL } from './store-view.ts';
import type { AgentFields, AgentRecord, AggregatorStore, BatchResult, BatchWrite, ExperimentRecord, ExperimentStatus, RejectionRecord, RoundRecord, RoundSummary, UploadRecord } from './store-types.ts';

export * from './store-types.ts';
export * from './store-schema.ts';

class SqliteAggregatorStore implements AggregatorStore {
  readonly path: string;
  private readonly db: SqliteDb;
  private readonly s;
  readonly keys: SqliteAggregatorKeys;
  readonly partials: SqlitePartials;

  constructor(path: string) {
    this.path = path;
    this.db = openStoreDb(path, AGGREGATOR_SCHEMA);
    const db = this.db;
    this.keys = new SqliteAggregatorKeys(db, path);
    this.partials = new SqlitePartials(db, path);
    const roundCols = `r.round, r.status, r.opened_at, r.deadline_ms, r.closed_at,
      (SELECT count(*) FROM upload u WHERE u.experiment = r.experiment AND u.round = r.round) AS uploads`;
    this.s = {
      insExp: db.prepare('INSERT INTO experiment (id, config, masks, created_at) VALUES (?, ?, ?, ?)'),
      getExp: db.prepare('SELECT id, config, masks, created_at, status, current_round FROM experiment WHERE id = ?'),
      setCur: db.prepare('UPDATE experiment SET current_round = ? WHERE id = ?'),
      advanceCur: db.prepare('UPDATE experiment SET current_round = max(current_round, ?) WHERE id = ?'),
      finish: db.prepare(
        "UPDATE experiment SET status = 'finished', finished_at = coalesce(finished_at, ?) WHERE id = ?",
      ),
      insRound: db.prepare(
        `INSERT INTO round (experiment, round, status, opened_at, deadline_ms, announcement)
         VALUES (?, ?, 'open', ?, ?, ?)`,
      ),
      getRound: db.prepare(
        `SELECT ${roundCols}, r.announcement, r.global, r.summary FROM round r WHERE r.experiment = ? AND r.round = ?`,
      ),
      closeRound: db.prepare(
        "UPDATE round SET status = 'closed', closed_at = ?, global = ?, summary = ? WHERE experiment = ? AND round = ? AND status = 'open'",
      ),
      listRounds: db.prepare(
        `SELECT ${roundCols}, length(r.announcement) AS ann_size, length(r.global) AS global_size, r.summary
         FROM round r WHERE r.experiment = ? ORDER BY r.round`,
      ),
      latestGlobal: db.prepare(
        `SELECT round, global FROM round WHERE experiment = ? AND status = 'closed' AND global IS NOT NULL
         ORDER BY round DESC LIMIT 1`,
      ),
      insUpload: db.prepare(
        `INSERT INTO upload (experiment, round, agent, bytes, received_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (experiment, round, agent) DO NOTHING`,
      ),
      hasUpload: db.prepare('SELECT 1 FROM upload WHERE experiment = ? AND round = ? AND agent = ?'),
      uploadsFor: db.prepare(
        'SELECT agent, bytes, received_at FROM upload WHERE experiment = ? AND round = ? ORDER BY received_at, agent',
      ),
      insRejection: db.prepare(
        'INSERT INTO rejection (experiment, round, agent, code, message, at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      rejectionCounts: db.prepare('SELECT code, count(*) AS n FROM rejection WHERE experiment = ? GROUP BY code ORDER BY code'),
      rejections: db.prepare(
        'SELECT id, round, agent, code, message, at FROM rejection WHERE experiment = ? ORDER BY id DESC LIMIT ?',
      ),
      upsertAgent: db.prepare(
        `INSERT INTO agent (experiment, agent, family, state, first_seen, last_seen, last_round)
         VALUES (@experiment, @agent, @family, @state, @lastSeen, @lastSeen, @lastRound)
         ON CONFLICT (experiment, agent) DO UPDATE SET
           family = coalesce(excluded.family, family),
           state = coalesce(excluded.state, state),
           last_seen = max(last_seen, excluded.last_seen),
           last_round = coalesce(excluded.last_round, last_round)`,
      ),
      agents: db.prepare(
        'SELECT agent, family, state, first_seen, last_seen, last_round FROM agent WHERE experiment = ? ORDER BY agent',
      ),
      insTelemetry: db.prepare(
        `INSERT INTO telemetry (experiment, agent, round, json, received_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (experiment, agent, round) DO NOTHING`,
      ),
      telemetry: db.prepare(TELEMETRY_SQL),
    };
  }

  private run<T>(what: string, fn: () => T): T {
    return guard(this.db, this.path, what, fn);
  }

  private requireExperiment(id: string): void {
    if (this.s.getExp.get(id) === undefined) throw storeError(this.path, `unknown experiment ${JSON.stringify(id)}`);
  }

  createExperiment(id: string, config: Record<string, unknown>, masksBytes: Uint8Array | null): void {
    this.run('createExperiment', () => {
      checkId(this.path, 'experiment id', id);
      const configJson = canonicalJson(config);
      durably(this.db, () => {
        const row = this.s.getExp.get(id) as { config: string; masks: unknown } | undefined;
        if (row !== undefined) {
          if (row.config !== configJson) {
            throw storeError(this.path, `experiment ${JSON.stringify(id)} already exists with a different config`);
          }
          if (!sameBytes(fromNullableBlob(row.masks, this.path, 'masks'), masksBytes)) {
            throw storeError(this.path, `experiment ${JSON.stringify(id)} already exists with different masks`);
          }
          return;
        }
        this.s.insExp.run(id, configJson, masksBytes === null ? null : toBlob(masksBytes), Date.now());
      });
    });
  }

  getExperiment(id: string): ExperimentRecord | null {
    return this.run('getExperiment', () => {
      const row = this.s.getExp.get(id) as
        | { id: string; config: string; masks: unknown; created_at: number; status: ExperimentStatus; current_round: number }
        | undefined;
      if (row === undefined) return null;
      return {
        id: row.id,
        config: parseJsonObject(row.config, this.path, `experiment ${id} config`),
        masksBytes: fromNullableBlob(row.masks, this.path, 'masks'),
        createdAt: row.created_at,
        status: row.status,
        currentRound: row.current_round,
      };
    });
  }

  setCurrentRound(id: string, round: number): void {
    this.run('setCurrentRound', () => {
      checkRound(this.path, round);
      const r = durably(this.db, () => this.s.setCur.run(round, id));
      if (r.changes !== 1) throw storeError(this.path, `unknown experiment ${JSON.stringify(id)}`);
    });
  }

  finishExperiment(id: string): void {
    this.run('finishExperiment', () => {
      const r = durably(this.db, () => this.s.finish.run(Date.now(), id));
      if (r.changes !== 1) throw storeError(this.path, `unknown experiment ${JSON.stringify(id)}`);
    });
  }

  openRound(experiment: string, round: number, announcementBytes: Uint8Array, deadlineMs: number): void {
    this.run('openRound', () => {
      checkRound(this.path, round);
      checkTime(this.path, 'deadlineMs', deadlineMs);
      durably(this.db, () => {
        this.requireExperiment(experiment);
        const existing = this.s.getRound.get(experiment, round) as RoundRow | undefined;
        if (existing !== undefined) {
          if (existing.status !== 'open') {
            throw storeError(this.path, `round ${round} of ${JSON.stringify(experiment)} is already closed`);
          }
          if (!sameBytes(fromBlob(existing.announcement, this.path, 'announcement'), announcementBytes)) {
            throw storeError(this.path, `round ${round} of ${JSON.stringify(experiment)} is already open with a different announcement`);
          }
          return;
        }
        this.s.insRound.run(experiment, round, Date.now(), Math.round(deadlineMs), toBlob(announcementBytes));
        this.s.advanceCur.run(round, experiment);
      });
    });
  }

  private toRound(row: RoundRow): RoundRecord {
    return {
      round: row.round,
      status: row.status,
      openedAt: row.opened_at,
      deadlineMs: row.deadline_ms,
      closedAt: row.closed_at,
      announcementBytes: fromBlob(row.announcement, this.path, 'announcement'),
      globalBytes: fromNullableBlob(row.global, this.path, 'global'),
      uploads: row.uploads,
      summary: row.summary === null ? null : parseJsonObject(row.summary, this.path, `round ${row.round} summary`),
    };
  }

  getRound(experiment: string, round: number): RoundRecord | null {
    return this.run('getRound', () => {
      const row = this.s.getRound.get(experiment, round) as RoundRow | undefined;
      return row === undefined ? null : this.toRound(row);
    });
  }

  closeRound(experiment: string, round: number, globalBytes: Uint8Array | null, summary: Record<string, unknown>): void {
    this.run('closeRound', () => {
      const summaryJson = JSON.stringify(summary);
      durably(this.db, () => {
        const r = this.s.closeRound.run(
          Date.now(),
          globalBytes === null ? null : toBlob(globalBytes),
          summaryJson,
          experiment,
          round,
        );
        if (r.changes !== 1) {
          const existing = this.s.getRound.get(experiment, round) as RoundRow | undefined;
          throw storeError(
            this.path,
            existing === undefined
              ? `round ${round} of ${JSON.stringify(experiment)} was never opened`
              : `round ${round} of ${JSON.stringify(experiment)} is already closed`,
          );
        }
      });
    });
  }

  recordUpload(experiment: string, round: number, agent: string, bytes: Uint8Array, receivedAt: number): 'accepted' | 'duplicate' {
    return this.run('recordUpload', () => {
      checkRound(this.path, round);
      checkId(this.path, 'agent id', agent);
      checkTime(this.path, 'receivedAt', receivedAt);
      return durably(this.db, () => {
        this.requireExperiment(experiment);
        const r = this.s.insUpload.run(experiment, round, agent, toBlob(bytes), Math.round(receivedAt));
        return r.changes === 1 ? 'accepted' : 'duplicate';
      });
    });
  }

  commitBatch(experiment: string, batch: BatchWrite): BatchResult {
    return this.run('commitBatch', () => {
      for (const u of batch.uploads) {
        checkRound(this.path, u.round);
        checkId(this.path, 'agent id', u.agent);
        checkTime(this.path, 'receivedAt', u.receivedAt);
      }
      for (const a of batch.agents) checkAgentFields(this.path, a.agent, a.fields);
      const jsons = batch.telemetry.map((t) => telemetryJson(this.path, experiment, t.agent, t.round, t.record, t.at));
      const result = durably(this.db, () => {
        this.requireExperiment(experiment);
        this.keys.writePins(); // keys pinned by these messages (first contact): durable with them
        const uploads = batch.uploads.map((u) =>
          this.s.insUpload.run(experiment, u.round, u.agent, toBlob(u.bytes), Math.round(u.receivedAt)).changes === 1 ? ('accepted' as const) : ('duplicate' as const),
        );
        for (const a of batch.agents) this.s.upsertAgent.run(agentRow(experiment, a.agent, a.fields));
        const telemetry = batch.telemetry.map((t, i) =>
          this.s.insTelemetry.run(experiment, t.agent, t.round, jsons[i], Math.round(t.at)).changes === 1 ? ('accepted' as const) : ('duplicate' as const),
        );
        return { uploads, telemetry };
      });
      this.keys.pinsWritten();
      return result;
    });
  }

  hasUpload(experiment: string, round: number, agent: string): boolean {
    return this.run('hasUpload', () => this.s.hasUpload.get(experiment, round, agent) !== undefined);
  }

  uploadsFor(experiment: string, round: number): UploadRecord[] {
    return this.run('uploadsFor', () =>
      (this.s.uploadsFor.all(experiment, round) as { agent: string; bytes: unknown; received_at: number }[]).map((r) => ({
        agent: r.agent,
        bytes: fromBlob(r.bytes, this.path, 'upload'),
        receivedAt: r.received_at,
      })),
    );
  }

  recordRejection(experiment: string, round: number | null, agent: string | null, code: string, message: string, at: number): void {
    this.run('recordRejection', () => {
      checkTime(this.path, 'at', at);
      if (round !== null && !Number.isSafeInteger(round)) throw storeError(this.path, `invalid round ${String(round)}`);
      this.s.insRejection.run(experiment, round, agent, code, message, Math.round(at));
    });
  }

  rejectionCounts(experiment: string): Record<string, number> {
    return this.run('rejectionCounts', () => {
      const out: Record<string, number> = {};
      for (const r of this.s.rejectionCounts.all(experiment) as { code: string; n: number }[]) out[r.code] = r.n;
      return out;
    });
  }

  rejections(experiment: string, limit: number): RejectionRecord[] {
    return this.run('rejections', () => {
      const n = Math.max(0, Math.floor(limit));
      return (this.s.rejections.all(experiment, n) as RejectionRecord[]).map((r) => ({ ...r }));
    });
  }

  upsertAgent(experiment: string, agent: string, fields: AgentFields): void {
    this.run('upsertAgent', () => {
      checkAgentFields(this.path, agent, fields);
      this.s.upsertAgent.run(agentRow(experiment, agent, fields));
    });
  }

  agents(experiment: string): AgentRecord[] {
    return this.run('agents', () =>
      (
        this.s.agents.all(experiment) as {
          agent: string;
          family: string | null;
          state: string | null;
          first_seen: number;
          last_seen: number;
          last_round: number | null;
        }[]
      ).map((r) => ({
        agent: r.agent,
        family: r.family,
        state: r.state,
        firstSeen: r.first_seen,
        lastSeen: r.last_seen,
        lastRound: r.last_round,
      })),
    );
  }

  latestGlobal(experiment: string): { round: number; bytes: Uint8Array } | null {
    return this.run('latestGlobal', () => {
      const row = this.s.latestGlobal.get(experiment) as { round: number; global: unknown } | undefined;
      return row === undefined ? null : { round: row.round, bytes: fromBlob(row.global, this.path, 'global') };
    });
  }

  rounds(experiment: string): RoundSummary[] {
    return this.run('rounds', () =>
      (
        this.s.listRounds.all(experiment) as (Omit<RoundRow, 'announcement' | 'global'> & {
          ann_size: number;
          global_size: number | null;
        })[]
      ).map((r) => ({
        round: r.round,
        status: r.status,
        openedAt: r.opened_at,
        deadlineMs: r.deadline_ms,
        closedAt: r.closed_at,
        uploads: r.uploads,
        announcementSize: r.ann_size,
        globalSize: r.global_size,
        summary: r.summary === null ? null : parseJsonObject(r.summary, this.path, `round ${r.round} summary`),
      })),
    );
  }

  recordTelemetry(experiment: string, agent: string, round: number, record: RoundTelemetry, at: number): 'accepted' | 'duplicate' {
    return this.run('recordTelemetry', () => {
      const json = telemetryJson(this.path, experiment, agent, round, record, at);
      return this.db.transaction(() => {
        this.requireExperiment(experiment);
        const r = this.s.insTelemetry.run(experiment, agent, round, json, Math.round(at));
        return r.changes === 1 ? ('accepted' as const) : ('duplicate' as const);
      })();
    });
  }

  telemetry(experiment: string): RoundTelemetry[] {
    return this.run('telemetry', () =>
      (this.s.telemetry.all(experiment) as { agent: string; round: number; json: string }[]).map(
        (r) => parseJsonObject(r.json, this.path, `telemetry of ${r.agent} round ${r.round}`) as unknown as RoundTelemetry,
      ),
    );
  }

  close(): void {
    try {
      this.keys.syncPins();
    } catch {
      // closing regardless: an unwritten pin is pinned again on the agent's next message
    }
    closeDb(this.db);
  }
}

/** Open (creating and migrating if needed) an aggregator store; `':memory:'` for a throwaway one. */
export function openAggregatorStore(path: string): AggregatorStore {
  return new SqliteAggregatorStore(path);
}
