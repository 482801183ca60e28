/**
 * The partial-sum table of the aggregator store (schema version 4): PARTIAL frames of relays
 * (wire/codec-partial.ts), one per experiment, round and relay. The coordinator keeps every
 * PARTIAL it counted (so a restart rebuilds the round's sums and refuses a resend as a
 * duplicate); a relay keeps the PARTIAL it sends (its outbox) and when the coordinator's RECEIPT
 * settled it. Part of the SQLite aggregator store (`store.partials`). Writes commit durably.
 */
import { durably, fromBlob, guard, toBlob, type SqliteDb } from '../storage/sqlite.ts';
import { checkId, checkRound, checkTime } from './store-internal.ts';
import type { AggregatorPartialStore, PartialRecord } from './store-partials-types.ts';

export type { AggregatorPartialStore, PartialRecord } from './store-partials-types.ts';

interface Row {
  round: number;
  relay: string;
  bytes: unknown;
  at: number;
  settled_at: number | null;
}

const COLS = 'round, relay, bytes, at, settled_at';

export class SqlitePartials implements AggregatorPartialStore {
  private readonly s;

  constructor(
    private readonly db: SqliteDb,
    private readonly path: string,
  ) {
    this.s = {
      ins: db.prepare('INSERT INTO partial (experiment, round, relay, bytes, at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (experiment, round, relay) DO NOTHING'),
      get: db.prepare(`SELECT ${COLS} FROM partial WHERE experiment = ? AND round = ? AND relay = ?`),
      forRound: db.prepare(`SELECT ${COLS} FROM partial WHERE experiment = ? AND round = ? ORDER BY relay`),
      settle: db.prepare('UPDATE partial SET settled_at = coalesce(settled_at, ?) WHERE experiment = ? AND round = ? AND relay = ?'),
      unsettled: db.prepare(`SELECT ${COLS} FROM partial WHERE experiment = ? AND relay = ? AND settled_at IS NULL ORDER BY round`),
    };
  }

  private row(r: Row): PartialRecord {
    return { round: r.round, relay: r.relay, bytes: fromBlob(r.bytes, this.path, 'partial'), at: r.at, settledAt: r.settled_at };
  }

  record(experiment: string, round: number, relay: string, bytes: Uint8Array, at: number): 'accepted' | 'duplicate' {
    return guard(this.db, this.path, 'recordPartial', () => {
      checkRound(this.path, round);
      checkId(this.path, 'relay id', relay);
      checkTime(this.path, 'at', at);
      return durably(this.db, () => (this.s.ins.run(experiment, round, relay, toBlob(bytes), Math.round(at)).changes === 1 ? 'accepted' : 'duplicate'));
    });
  }

  get(experiment: string, round: number, relay: string): PartialRecord | null {
    return guard(this.db, this.path, 'partial', () => {
      const r = this.s.get.get(experiment, round, relay) as Row | undefined;
      return r ? this.row(r) : null;
    });
  }

  forRound(experiment: string, round: number): PartialRecord[] {
    return guard(this.db, this.path, 'partialsFor', () => (this.s.forRound.all(experiment, round) as Row[]).map((r) => this.row(r)));
  }

  settle(experiment: string, round: number, relay: string, at: number): void {
    guard(this.db, this.path, 'settlePartial', () => durably(this.db, () => this.s.settle.run(Math.round(at), experiment, round, relay)));
  }

  unsettled(experiment: string, relay: string): PartialRecord[] {
    return guard(this.db, this.path, 'unsettledPartials', () => (this.s.unsettled.all(experiment, relay) as Row[]).map((r) => this.row(r)));
  }
}
