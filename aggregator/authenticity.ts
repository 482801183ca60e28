/**
 * Verifying agent messages (UPLOAD, STATUS, TELEMETRY) before the aggregator sees them: a
 * transport wrapper that lets through only frames signed by the key of the agent whose topic
 * they arrive on, so nobody can upload (or report) under another agent's name, even on a broker
 * without an ACL. An agent's key is configured (a keys file, JSON {agentId: hexKey}) or pinned
 * on the agent's first signed message that carries its key (trust on first use), kept in the
 * aggregator store (`store.keys`). Unsigned frames and frames signed by another key are refused
 * with E_CODEC_SIGNATURE and recorded as rejections like any other (PROTOCOL.md §1.2).
 *
 * Messages on the topics of agents that are not part of the experiment pass through untouched:
 * the aggregator rejects them (E_UNKNOWN_AGENT) and no key is ever pinned for them.
 */
import { readFileSync } from 'node:fs';
import { TinyProtoError, errorCode } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { authenticateFrame } from '../wire/authenticate.ts';
import { frameHeader } from '../wire/sign-frame.ts';
import { parsePublicKey, publicKeyHex } from '../wire/signature.ts';
import type { AggregatorTransport, UploadRejected } from './aggregator-types.ts';
import type { AggregatorStore } from './store.ts';

type Kind = Parameters<Parameters<AggregatorTransport['onAgentMessage']>[0]>[0];

export interface AgentAuthenticationOptions {
  store: AggregatorStore;
  experiment: string;
  /** The experiment's agents: only their keys are pinned. */
  agents: readonly string[];
  /** Configured keys {agentId: hex or base64}; they replace what was pinned before. */
  keys?: Readonly<Record<string, string>> | null;
  /** Pin keys of agents not in `keys` on first contact (default true). */
  pinOnFirstContact?: boolean;
  /** Accept unsigned messages from agents with no key yet (default false). */
  allowUnsigned?: boolean;
  logger?: Logger;
  now?: () => number;
}

/** Reads a keys file: a JSON object {agentId: "64 hex digits"} (E_CONFIG / E_KEY when invalid). */
export function readAgentKeysFile(path: string): Record<string, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `cannot read the agent keys file ${path}: ${(e as Error).message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new TinyProtoError('E_CONFIG', `agent keys file ${path} must hold a JSON object {agentId: hexKey}`);
  }
  const out: Record<string, string> = {};
  for (const [agent, key] of Object.entries(parsed)) {
    if (typeof key !== 'string') throw new TinyProtoError('E_CONFIG', `agent keys file ${path}: the key of "${agent}" must be a string`);
    out[agent] = publicKeyHex(parsePublicKey(key));
  }
  return out;
}

function headerRound(bytes: Uint8Array): number | null {
  try {
    return frameHeader(bytes).round;
  } catch {
    return null;
  }
}

export class AgentAuthentication {
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly agents: ReadonlySet<string>;
  private readonly configured: ReadonlySet<string>;
  private readonly pinned = new Map<string, Uint8Array>();
  /** Refused frames by error code. */
  readonly refused: Record<string, number> = {};
  private readonly listeners: ((r: UploadRejected) => void)[] = [];

  constructor(private readonly opts: AgentAuthenticationOptions) {
    this.logger = opts.logger ?? silentLogger;
    this.now = opts.now ?? Date.now;
    this.agents = new Set(opts.agents);
    const keys = opts.store.keys;
    for (const [agent, key] of Object.entries(opts.keys ?? {})) {
      const hex = publicKeyHex(parsePublicKey(key));
      const before = keys.agentKey(opts.experiment, agent);
      if (before && before.publicKey !== hex) this.logger.warn('configured agent key replaces the key pinned earlier', { agent, configured: hex, pinned: before.publicKey });
      keys.pinAgentKey(opts.experiment, agent, hex, 'configured', this.now());
    }
    this.configured = new Set(Object.keys(opts.keys ?? {}));
    for (const r of keys.agentKeys(opts.experiment)) this.pinned.set(r.agent, parsePublicKey(r.publicKey));
  }

  /** The key in force for an agent (hex), or null. */
  agentKey(agent: string): string | null {
    const k = this.pinned.get(agent);
    return k === undefined ? null : publicKeyHex(k);
  }

  /** Called for every refused frame (after it was recorded and logged). */
  onRefused(listener: (r: UploadRejected) => void): void {
    this.listeners.push(listener);
  }

  /** Whether `bytes` on `agent`'s topic may reach the aggregator; pins on first contact. Never throws. */
  accept(kind: Kind, agent: string, bytes: Uint8Array): boolean {
    return this.check(kind, agent, bytes) !== 'refused';
  }

  private check(kind: Kind, agent: string, bytes: Uint8Array): 'refused' | 'accepted' | 'pinned' {
    if (!this.agents.has(agent)) return 'accepted';
    try {
      const a = authenticateFrame(bytes, this.pinned.get(agent) ?? null, {
        pinOnFirstContact: this.opts.pinOnFirstContact !== false && !this.configured.has(agent),
        allowUnsigned: this.opts.allowUnsigned === true,
        owner: `agent "${agent}"`,
      });
      if (a.pin !== null) {
        const kept = this.opts.store.keys.pinAgentKey(this.opts.experiment, agent, publicKeyHex(a.pin), 'pinned', this.now());
        this.pinned.set(agent, parsePublicKey(kept.publicKey));
        if (kept.publicKey !== publicKeyHex(a.pin)) return this.check(kind, agent, bytes);
        this.logger.info('agent key pinned on first contact', { agent, key: kept.publicKey, kind });
        return 'pinned';
      }
      return 'accepted';
    } catch (e) {
      const code = errorCode(e);
      // a frame that does not even parse is not an authenticity question: the aggregator
      // rejects it, with the round it arrived in, as any malformed message
      if (code.startsWith('E_CODEC_') && code !== 'E_CODEC_SIGNATURE') return 'accepted';
      const message = e instanceof Error ? e.message : String(e);
      this.refused[code] = (this.refused[code] ?? 0) + 1;
      const rejection: UploadRejected = { round: kind === 'upload' ? headerRound(bytes) : null, agent, code, message };
      try {
        this.opts.store.recordRejection(this.opts.experiment, rejection.round, agent, code, message, this.now());
      } catch (se) {
        this.logger.error('rejection not recorded', { agent, code: errorCode(se), error: (se as Error).message });
      }
      const keyChanged = (e as { details?: { keyChanged?: boolean } }).details?.keyChanged === true;
      (keyChanged ? this.logger.error : this.logger.warn).call(this.logger, keyChanged ? 'agent message signed by a different key refused' : 'agent message refused: not authentic', { kind, agent, code, error: message });
      for (const l of this.listeners) l(rejection);
      return 'refused';
    }
  }

  private syncPinsThen(ack: () => void): void {
    try {
      this.opts.store.keys.syncPins();
    } catch (e) {
      // not acknowledged: the broker redelivers it and the key is pinned again
      this.logger.error('pinned key not made durable; message left unacknowledged', { code: errorCode(e), error: (e as Error).message });
      return;
    }
    ack();
  }

  /** `inner` with only authentic agent messages passed to the `onAgentMessage` handler. */
  wrap<T extends AggregatorTransport>(inner: T): T {
    const onAgentMessage: AggregatorTransport['onAgentMessage'] = (handler) =>
      inner.onAgentMessage((kind, agent, bytes, ack) => {
        const verdict = this.check(kind, agent, bytes);
        if (verdict === 'refused') ack?.(); // dropped for good: nothing to keep at the broker
        // a message that pinned a key is acknowledged only once the pin is durable: with its
        // batch's commit (then syncPins is a no-op), or by syncPins when it is answered sooner
        else if (verdict === 'pinned' && ack) handler(kind, agent, bytes, () => this.syncPinsThen(ack));
        else handler(kind, agent, bytes, ack);
      });
    return new Proxy(inner, {
      get(target, prop) {
        if (prop === 'onAgentMessage') return onAgentMessage;
        const v: unknown = Reflect.get(target, prop, target);
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
  }
}
