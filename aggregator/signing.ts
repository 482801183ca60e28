/**
 * The aggregator's Ed25519 key and a transport wrapper that signs every frame the aggregator
 * publishes (MASKS, ROUND, GLOBAL, RECEIPT), so agents accept aggregator messages only from the
 * holder of this key, on any broker (PROTOCOL.md §1.2). The aggregator's state machine and its
 * store are unchanged: they keep unsigned frames, signed on the way out (Ed25519 is
 * deterministic, so a republished frame is byte for byte the frame published before).
 */
import { signerFromKeyFile } from '../storage/key-file.ts';
import { signFrame } from '../wire/sign-frame.ts';
import { ed25519Signer, generateSigningKey, publicKeyHex, type FrameSigner } from '../wire/signature.ts';
import type { AggregatorTransport } from './aggregator-types.ts';
import type { AggregatorKeyStore } from './store-keys.ts';

export interface AggregatorSigningKey {
  signer: FrameSigner;
  /** 64 hex digits: what agents configure as `--aggregator-key` (or pin on first contact). */
  publicKey: string;
  source: 'file' | 'store' | 'generated';
}

/**
 * The aggregator's signing key: the PEM file `keyFile` (`--signing-key`) when given, else the key
 * kept in the store, else a new key generated now and kept in the store (durably).
 */
export function aggregatorSigningKey(keys: AggregatorKeyStore, keyFile?: string | null, now: () => number = Date.now): AggregatorSigningKey {
  if (keyFile) {
    const signer = signerFromKeyFile(keyFile);
    return { signer, publicKey: publicKeyHex(signer.publicKey), source: 'file' };
  }
  const stored = keys.signingKey();
  if (stored !== null) return { signer: ed25519Signer(stored.privateKeyPem), publicKey: stored.publicKey, source: 'store' };
  const fresh = generateSigningKey();
  const kept = keys.saveSigningKey(fresh.privateKeyPem, publicKeyHex(fresh.publicKey), now());
  return { signer: ed25519Signer(kept.privateKeyPem), publicKey: kept.publicKey, source: 'generated' };
}

function signArgs(args: unknown[], signer: FrameSigner): unknown[] {
  return args.map((a) => (a instanceof Uint8Array ? signFrame(a, signer, { embedKey: true }) : a));
}

/**
 * `inner` with every frame it publishes signed by `signer` (the key embedded, flag bit 1): every
 * method whose name starts with `publish` (publishRetained, and a receipt publisher however it is
 * named) has its byte arguments signed. Everything else is `inner`'s own.
 */
export function signingAggregatorTransport<T extends AggregatorTransport>(inner: T, signer: FrameSigner): T {
  return new Proxy(inner, {
    get(target, prop) {
      const v: unknown = Reflect.get(target, prop, target);
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (typeof prop === 'string' && prop.startsWith('publish')) return (...args: unknown[]) => f.apply(target, signArgs(args, signer));
      return f.bind(target);
    },
  });
}
