/**
 * The agent's own Ed25519 key and a transport wrapper that signs everything the agent publishes
 * (UPLOAD, STATUS, TELEMETRY), so the aggregator can tell this agent from anyone publishing
 * under its name (PROTOCOL.md §1.2). Frames carry the agent's public key (flag bit 1) so that an
 * aggregator without a configured keys file pins it on first contact. The agent's state machine
 * is unchanged: it encodes unsigned frames and this wrapper signs them on the way out.
 */
import { signerFromKeyFile } from '../storage/key-file.ts';
import { signFrame } from '../wire/sign-frame.ts';
import { ed25519Signer, generateSigningKey, type FrameSigner } from '../wire/signature.ts';
import type { AgentTransport } from './agent-types.ts';
import type { AgentStore } from './store.ts';

/** Agent store meta key of the agent's private key (PKCS#8 PEM). */
export const AGENT_SIGNING_KEY_META = 'signing.privateKeyPem';

/**
 * The agent's signer: the PEM file `keyFile` when given, else the key kept in the store, else a
 * new key generated now and kept in the store (so the key the aggregator pins survives restarts).
 */
export function agentSigner(store: AgentStore, keyFile?: string | null): FrameSigner {
  if (keyFile) return signerFromKeyFile(keyFile);
  const stored = store.getMeta(AGENT_SIGNING_KEY_META);
  if (stored !== null) return ed25519Signer(stored);
  const { privateKeyPem } = generateSigningKey();
  store.setMeta(AGENT_SIGNING_KEY_META, privateKeyPem);
  return ed25519Signer(privateKeyPem);
}

/** Signs a frame published outside the transport's `publish`, e.g. the MQTT last will. */
export function signAgentFrame(frame: Uint8Array, signer: FrameSigner): Uint8Array {
  return signFrame(frame, signer, { embedKey: true });
}

/**
 * `inner` with every `publish` signed by `signer` (the key embedded). Everything else (start,
 * counters, protocolVersion, onMessage ...) is `inner`'s own.
 */
export function signingAgentTransport<T extends AgentTransport>(inner: T, signer: FrameSigner): T {
  const publish: AgentTransport['publish'] = (kind, bytes, retain) => inner.publish(kind, signAgentFrame(bytes, signer), retain);
  return new Proxy(inner, {
    get(target, prop) {
      if (prop === 'publish') return publish;
      const v: unknown = Reflect.get(target, prop, target);
      return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  });
}
