/**
 * The key tables of the aggregator store (schema version 3): the aggregator's own Ed25519
 * signing key and the public keys of agents, pinned on first contact or configured. Part of the
 * SQLite aggregator store (aggregator/store.ts exposes it as `store.keys`).
 */
import { durably, guard, type SqliteDb } from '../storage/sqlite.ts';
import { checkId, checkTime } from './store-internal.ts';
import type { AgentKeyRecord, AgentKeySource, AggregatorKeyStore } from './store-keys-types.ts';

export type { AgentKeyRecord, AgentKeySource, AggregatorKeyStore } from './store-keys-types.ts';

interface KeyRow {
  agent: string;
  public_key: string;
  source: AgentKeySource;
  pinned_at: number;
}

const pendingKey = (experiment: string, agent: string): string => `${experiment}\u0000${agent}`;

const row = (r: KeyRow): AgentKeyRecord => ({ agent: r.agent, publicKey: r.public_key, source: r.source, pinnedAt: r.pinned_at });

export class SqliteAggregatorKeys implements AggregatorKeyStore {
  private readonly s;
  /** Keys pinned on first contact since the last durable commit, not yet written. */
  private readonly pending = new Map<string, { experiment: string; record: AgentKeyRecord }>();

  constructor(
    private readonly db: SqliteDb,
    private readonly path: string,
  ) {
    this.s = {
      getSigning: db.prepare('SELECT private_pem, public_key FROM signing_key WHERE id = 1'),
      putSigning: db.prepare('INSERT INTO signing_key (id, private_pem, public_key, created_at) VALUES (1, ?, ?, ?) ON CONFLICT (id) DO NOTHING'),
      getAgent: db.prepare('SELECT agent, public_key, source, pinned_at FROM agent_key WHERE experiment = ? AND agent = ?'),
      pinAgent: db.prepare('INSERT INTO agent_key (experiment, agent, public_key, source, pinned_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (experiment, agent) DO NOTHING'),
      setAgent: db.prepare(
        `INSERT INTO agent_key (experiment, agent, public_key, source, pinned_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (experiment, agent) DO UPDATE SET public_key = excluded.public_key, source = excluded.source, pinned_at = excluded.pinned_at`,
      ),
      agents: db.prepare('SELECT agent, public_key, source, pinned_at FROM agent_key WHERE experiment = ? ORDER BY agent'),
    };
  }

  private run<T>(what: string, fn: () => T): T {
    return guard(this.db, this.path, what, fn);
  }

  signingKey(): { privateKeyPem: string; publicKey: string } | null {
    return this.run('signingKey', () => {
      const r = this.s.getSigning.get() as { private_pem: string; public_key: string } | undefined;
      return r ? { privateKeyPem: r.private_pem, publicKey: r.public_key } : null;
    });
  }

  saveSigningKey(privateKeyPem: string, publicKey: string, at: number): { privateKeyPem: string; publicKey: string } {
    return this.run('saveSigningKey', () => {
      checkId(this.path, 'private key', privateKeyPem);
      checkId(this.path, 'public key', publicKey);
      checkTime(this.path, 'time', at);
      durably(this.db, () => this.s.putSigning.run(privateKeyPem, publicKey, at));
      return this.signingKey()!;
    });
  }

  agentKey(experiment: string, agent: string): AgentKeyRecord | null {
    return this.run('agentKey', () => {
      const p = this.pending.get(pendingKey(experiment, agent));
      if (p) return p.record;
      const r = this.s.getAgent.get(experiment, agent) as KeyRow | undefined;
      return r ? row(r) : null;
    });
  }

  pinAgentKey(experiment: string, agent: string, publicKey: string, source: AgentKeySource, at: number): AgentKeyRecord {
    return this.run('pinAgentKey', () => {
      checkId(this.path, 'experiment id', experiment);
      checkId(this.path, 'agent id', agent);
      checkId(this.path, 'public key', publicKey);
      checkTime(this.path, 'time', at);
      const k = pendingKey(experiment, agent);
      if (source === 'configured') {
        durably(this.db, () => this.s.setAgent.run(experiment, agent, publicKey, source, at));
        this.pending.delete(k);
        return row(this.s.getAgent.get(experiment, agent) as KeyRow);
      }
      const before = this.pending.get(k)?.record ?? (this.s.getAgent.get(experiment, agent) as KeyRow | undefined);
      if (before) return 'publicKey' in before ? before : row(before);
      // first contact: written with the next durable commit (commitBatch or syncPins)
      const record: AgentKeyRecord = { agent, publicKey, source, pinnedAt: at };
      this.pending.set(k, { experiment, record });
      return record;
    });
  }

  syncPins(): void {
    if (this.pending.size === 0) return;
    this.run('syncPins', () => durably(this.db, () => this.writePins()));
    this.pending.clear();
  }

  get unsyncedPins(): boolean {
    return this.pending.size > 0;
  }

  /**
   * Writes the pins made since the last durable commit; for the store's commitBatch, inside its
   * transaction (then `pinsWritten()` once it committed).
   */
  writePins(): void {
    for (const { experiment, record: r } of this.pending.values()) this.s.pinAgent.run(experiment, r.agent, r.publicKey, r.source, r.pinnedAt);
  }

  /** The transaction that ran writePins() committed durably. */
  pinsWritten(): void {
    this.pending.clear();
  }

  agentKeys(experiment: string): AgentKeyRecord[] {
    return this.run('agentKeys', () => {
      const out = (this.s.agents.all(experiment) as KeyRow[]).map(row);
      for (const p of this.pending.values()) if (p.experiment === experiment) out.push(p.record);
      return this.pending.size === 0 ? out : out.sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
    });
  }
}
