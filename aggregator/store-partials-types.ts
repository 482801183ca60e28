/** The types of the aggregator store's partial-sum table (aggregator/store-partials.ts). */
export interface PartialRecord {
  round: number;
  relay: string;
  /** The PARTIAL frame as received (coordinator) or as first sent (relay). */
  bytes: Uint8Array;
  at: number;
  /** Relay side: when the coordinator's RECEIPT settled it; null while it is still resent. */
  settledAt: number | null;
}

export interface AggregatorPartialStore {
  /** Keeps a PARTIAL durably; 'duplicate' (and nothing written) when one for this round and relay is kept. */
  record(experiment: string, round: number, relay: string, bytes: Uint8Array, at: number): 'accepted' | 'duplicate';
  get(experiment: string, round: number, relay: string): PartialRecord | null;
  /** The round's PARTIALs, by relay. */
  forRound(experiment: string, round: number): PartialRecord[];
  /** Marks a PARTIAL settled (durably). */
  settle(experiment: string, round: number, relay: string, at: number): void;
  /** PARTIALs of `relay` not settled yet, by round. */
  unsettled(experiment: string, relay: string): PartialRecord[];
}
