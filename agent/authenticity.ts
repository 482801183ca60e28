/**
 * Verifying what the agent receives from the aggregator (MASKS, ROUND, GLOBAL, RECEIPT): a
 * transport wrapper that hands the agent only frames signed by the aggregator's key and drops
 * every other one (logged with its code, counted), so a client that can publish on the
 * aggregator's topics (a broker without an ACL) cannot announce rounds, masks or prototypes.
 *
 * The key is configured (`--aggregator-key HEX`, config `aggregatorKey`) or pinned on first
 * contact: the first signed aggregator message that carries its key and verifies pins that key
 * in the agent store (meta `aggregatorKey/<experiment>`); from then on unsigned frames and frames
 * signed by any other key are refused, the latter loudly (logged as an error). PROTOCOL.md §1.2.
 */
import { errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { authenticateFrame } from '../wire/authenticate.ts';
import { parsePublicKey, publicKeyHex } from '../wire/signature.ts';
import type { AgentTransport } from './agent-types.ts';
import type { AgentStore } from './store.ts';

/** What a frame is, for logs: an experiment's inbound kinds, or a fleet's EXPERIMENT announcement. */
type Kind = Parameters<Parameters<AgentTransport['onMessage']>[0]>[0] | 'experiment';

/** Agent store meta key of the aggregator key pinned for an experiment. */
export function aggregatorKeyMeta(experiment: string): string {
  return `aggregatorKey/${experiment}`;
}

export interface AgentAuthenticityOptions {
  store: AgentStore;
  experiment: string;
  /** The aggregator's public key (64 hex digits or base64); null/absent: pin on first contact. */
  aggregatorKey?: string | Uint8Array | null;
  /** Accept unsigned aggregator messages while no key is known (default false). */
  allowUnsigned?: boolean;
  logger?: Logger;
}

export interface DroppedMessage {
  kind: string;
  code: string;
  message: string;
}

export class AgentAuthenticity {
  private key: Uint8Array | null;
  private readonly configured: boolean;
  private readonly logger: Logger;
  /** Dropped frames by error code. */
  readonly dropped: Record<string, number> = {};
  private readonly listeners: ((d: DroppedMessage) => void)[] = [];

  constructor(private readonly opts: AgentAuthenticityOptions) {
    this.logger = opts.logger ?? silentLogger;
    const stored = opts.store.getMeta(aggregatorKeyMeta(opts.experiment));
    const given = opts.aggregatorKey ?? null;
    this.configured = given !== null;
    this.key = given !== null ? (typeof given === 'string' ? parsePublicKey(given) : new Uint8Array(given)) : stored !== null ? parsePublicKey(stored) : null;
    if (given !== null && stored !== null && stored !== publicKeyHex(this.key!)) {
      this.logger.warn('configured aggregator key differs from the key pinned earlier; using the configured key', { configured: publicKeyHex(this.key!), pinned: stored });
    }
  }

  /** The aggregator key in force (hex), or null while none is known. */
  get aggregatorKey(): string | null {
    return this.key === null ? null : publicKeyHex(this.key);
  }

  /** Called for every dropped frame (after it was logged and counted). */
  onDrop(listener: (d: DroppedMessage) => void): void {
    this.listeners.push(listener);
  }

  /** Whether `bytes` may reach the agent; pins the key on first contact. Never throws. */
  accept(kind: Kind, bytes: Uint8Array): boolean {
    try {
      const a = authenticateFrame(bytes, this.key, { pinOnFirstContact: !this.configured, allowUnsigned: this.opts.allowUnsigned === true, owner: 'the aggregator' });
      if (a.pin !== null) {
        this.key = a.pin;
        this.opts.store.setMeta(aggregatorKeyMeta(this.opts.experiment), publicKeyHex(a.pin));
        this.logger.info('aggregator key pinned on first contact', { experiment: this.opts.experiment, key: publicKeyHex(a.pin), kind });
      }
      return true;
    } catch (e) {
      const code = errorCode(e);
      // a frame that does not even parse is not an authenticity question: the agent drops it
      // with its code, as any malformed message
      if (code.startsWith('E_CODEC_') && code !== 'E_CODEC_SIGNATURE') return true;
      const message = e instanceof Error ? e.message : String(e);
      this.dropped[code] = (this.dropped[code] ?? 0) + 1;
      const keyChanged = (e as { details?: { keyChanged?: boolean } }).details?.keyChanged === true;
      (keyChanged ? this.logger.error : this.logger.warn).call(this.logger, keyChanged ? 'aggregator message signed by a different key refused' : 'aggregator message dropped: not authentic', { kind, code, error: message });
      for (const l of this.listeners) l({ kind, code, message });
      return false;
    }
  }

  /** `inner` with only authentic aggregator messages passed to the `onMessage` handler. */
  wrap<T extends AgentTransport>(inner: T): T {
    const onMessage: AgentTransport['onMessage'] = (handler) =>
      inner.onMessage((kind, bytes) => {
        if (this.accept(kind, bytes)) handler(kind, bytes);
      });
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'onMessage') return onMessage;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
