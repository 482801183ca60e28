/**
 * What a relay accepts from its coordinator: only MASKS, ROUND, GLOBAL and RECEIPT frames
 * signed by the coordinator's key, configured (`--coordinator-key HEX`) or pinned on first
 * contact (kept in the relay's store, table agent_key under the id `@coordinator`, which no
 * agent id can take). The relay then re-signs what it passes on with its own key (its agents
 * pin the relay as their aggregator): the chain of trust is agent -> relay -> coordinator.
 */
import { errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { authenticateFrame } from '../wire/authenticate.ts';
import { parsePublicKey, publicKeyHex } from '../wire/signature.ts';
import type { AggregatorStore } from '../aggregator/store.ts';
import type { RelayUpstream, UpstreamKind } from './upstream.ts';

/** The agent_key id under which a relay pins its coordinator's key ('@' is not an id character). */
export const COORDINATOR_KEY_ID = '@coordinator';

export interface CoordinatorKeyOptions {
  store: AggregatorStore;
  experiment: string;
  /** The coordinator's public key (hex or base64); null: pin on first contact. */
  coordinatorKey?: string | null;
  /** Accept unsigned coordinator frames while no key is known (default false). */
  allowUnsigned?: boolean;
  logger?: Logger;
  now?: () => number;
}

export class CoordinatorAuthenticity {
  private key: Uint8Array | null;
  private readonly configured: boolean;
  private readonly logger: Logger;
  /** Dropped frames by error code. */
  readonly dropped: Record<string, number> = {};

  constructor(private readonly opts: CoordinatorKeyOptions) {
    this.logger = opts.logger ?? silentLogger;
    const keys = opts.store.keys;
    this.configured = Boolean(opts.coordinatorKey);
    if (opts.coordinatorKey) keys.pinAgentKey(opts.experiment, COORDINATOR_KEY_ID, publicKeyHex(parsePublicKey(opts.coordinatorKey)), 'configured', (opts.now ?? Date.now)());
    const kept = keys.agentKey(opts.experiment, COORDINATOR_KEY_ID);
    this.key = kept ? parsePublicKey(kept.publicKey) : null;
  }

  get coordinatorKey(): string | null {
    return this.key === null ? null : publicKeyHex(this.key);
  }

  /** Whether a coordinator frame may reach the relay; pins (durably) on first contact. Never throws. */
  accept(kind: UpstreamKind, bytes: Uint8Array): boolean {
    try {
      const a = authenticateFrame(bytes, this.key, { pinOnFirstContact: !this.configured, allowUnsigned: this.opts.allowUnsigned === true, owner: 'the coordinator' });
      if (a.pin !== null) {
        const keys = this.opts.store.keys;
        keys.pinAgentKey(this.opts.experiment, COORDINATOR_KEY_ID, publicKeyHex(a.pin), 'pinned', (this.opts.now ?? Date.now)());
        keys.syncPins();
        this.key = a.pin;
        this.logger.info('coordinator key pinned on first contact', { key: publicKeyHex(a.pin), kind });
      }
      return true;
    } catch (e) {
      const code = errorCode(e);
      this.dropped[code] = (this.dropped[code] ?? 0) + 1;
      this.logger.warn('coordinator message dropped: not authentic', { kind, code, error: e instanceof Error ? e.message : String(e) });
      return false;
    }
  }

  /** `inner` with only authentic coordinator frames passed on. */
  wrap(inner: RelayUpstream): RelayUpstream {
    return {
      onMessage: (handler) => inner.onMessage((kind, bytes) => (this.accept(kind, bytes) ? handler(kind, bytes) : undefined)),
      publishPartial: (bytes) => inner.publishPartial(bytes),
      close: () => inner.close(),
    };
  }
}
