/**
 * The key tables of the aggregator store (schema version 3): the aggregator's own Ed25519
 * signing key and the public keys of agents, pinned on first contact or configured. Part of the
 * SQLite aggregator store (aggregator/store.ts exposes it as `store.keys`).
 */
import { closeSync, fsyncSync, openSync } from 'node:fs';
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

const row = (r: KeyRow): AgentKeyRecord => ({ agent: r.agent, publicKey: r.public_key, source: r.source, pinnedAt: r.pinned_at });

export class SqliteAggregatorKeys implements AggregatorKeyStore {
  private readonly s;
  /** Keys pinned since the last durable commit. */
  private unsynced = false;

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
      if (source === 'configured') durably(this.db, () => this.s.setAgent.run(experiment, agent, publicKey, source, at));
      else if (this.s.pinAgent.run(experiment, agent, publicKey, source, at).changes === 1 && !this.db.memory) this.unsynced = true;
      return row(this.s.getAgent.get(experiment, agent) as KeyRow);
    });
  }

  syncPins(): void {
    if (!this.unsynced) return;
    this.run('syncPins', () => {
      // the pins' WAL frames are written (a NORMAL commit); fsync the WAL as a FULL commit would.
      // No WAL file: a checkpoint moved them into the database, which it synced.
      let fd: number | null = null;
      try {
        fd = openSync(`${this.path}-wal`, 'r+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      if (fd !== null) {
        try {
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
    });
    this.unsynced = false;
  }

  /** Whether keys were pinned since the last durable commit (syncPins would fsync). */
  get unsyncedPins(): boolean {
    return this.unsynced;
  }

  /** A durable commit of this database happened: every earlier pin is durable with it (WAL order). */
  pinsDurable(): void {
    this.unsynced = false;
  }

  agentKeys(experiment: string): AgentKeyRecord[] {
    return this.run('agentKeys', () => (this.s.agents.all(experiment) as KeyRow[]).map(row));
  }
}
