/** The types of the aggregator store's key tables (aggregator/store-keys.ts). */
export type AgentKeySource = 'pinned' | 'configured';

export interface AgentKeyRecord {
  agent: string;
  /** 64 hex digits. */
  publicKey: string;
  source: AgentKeySource;
  pinnedAt: number;
}

export interface AggregatorKeyStore {
  /** The aggregator's signing key: private key (PKCS#8 PEM) and public key (hex); null before the first start. */
  signingKey(): { privateKeyPem: string; publicKey: string } | null;
  /** Keeps the signing key (durably); a key already stored is kept and returned instead. */
  saveSigningKey(privateKeyPem: string, publicKey: string, at: number): { privateKeyPem: string; publicKey: string };
  agentKey(experiment: string, agent: string): AgentKeyRecord | null;
  /**
   * Pins `publicKey` for an agent. A key already pinned is kept (and returned) unless `source`
   * is 'configured', which replaces it. 'configured' keys are written durably; a key 'pinned'
   * on first contact is committed without its own fsync and becomes durable with the next
   * durable commit of the store (the batch holding the message that carried it: WAL order) or
   * `syncPins()`, which whoever acknowledges that message calls first.
   */
  pinAgentKey(experiment: string, agent: string, publicKey: string, source: AgentKeySource, at: number): AgentKeyRecord;
  /** Makes every key pinned so far durable (no-op when a durable commit already covered them). */
  syncPins(): void;
  /** Whether keys were pinned since the last durable commit (syncPins would fsync). */
  readonly unsyncedPins: boolean;
  agentKeys(experiment: string): AgentKeyRecord[];
}
