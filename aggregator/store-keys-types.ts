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
   * is 'configured', which replaces it (durably, at once). A key 'pinned' on first contact is
   * held in memory (agentKey/agentKeys see it) and written inside the next durable commit of
   * the store (commitBatch: the batch holding the message that carried it) or by `syncPins()`,
   * which whoever acknowledges that message sooner calls first.
   */
  pinAgentKey(experiment: string, agent: string, publicKey: string, source: AgentKeySource, at: number): AgentKeyRecord;
  /** Writes (durably) every key pinned and not written yet; a no-op when there is none. */
  syncPins(): void;
  /** Whether keys were pinned and not written yet (syncPins would commit them). */
  readonly unsyncedPins: boolean;
  agentKeys(experiment: string): AgentKeyRecord[];
}
