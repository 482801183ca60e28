/**
 * Deciding whether a received frame is authentic under a pinned key or trust on first use
 * (PROTOCOL.md §1.2 "Trust model"): the rule both sides' verifying transport wrappers apply
 * (agent/authenticity.ts for aggregator messages, aggregator/authenticity.ts for agent messages).
 * Pure apart from the verifier cache; every refusal is E_CODEC_SIGNATURE.
 *
 *   key known (configured or pinned)  unsigned: refused. Signed: must verify against that key; a
 *                                     frame carrying a different key is refused (`keyChanged`).
 *   no key known                      signed and carrying its key (flag bit 1), verifying against
 *                                     it: accepted, and that key is to be pinned (`pin`), if
 *                                     pinning on first contact is allowed. Unsigned: refused
 *                                     unless `allowUnsigned`.
 */
import { TinyProtoError } from '../common/errors.ts';
import { MESSAGE_TYPE_NAMES, type MessageHeader } from './codec-types.ts';
import { frameHeader } from './sign-frame.ts';
import { signedPart } from './codec-header.ts';
import { ed25519Verifier, publicKeyHex, type FrameVerifier } from './signature.ts';

export interface AuthenticateOptions {
  /** Pin the key a signed frame carries when no key is known yet (trust on first use). */
  pinOnFirstContact: boolean;
  /** Accept unsigned frames while no key is known (default false: refused). */
  allowUnsigned?: boolean;
  /** Who the key belongs to, for messages ("the aggregator", `agent "a1"`). */
  owner: string;
}

export interface Authenticated {
  header: MessageHeader;
  /** The key the frame verified against (null: unsigned, accepted by `allowUnsigned`). */
  key: Uint8Array | null;
  /** Set when no key was known and this one is to be pinned now. */
  pin: Uint8Array | null;
}

const MAX_VERIFIERS = 65_536;
const verifiers = new Map<string, FrameVerifier>();

function verifierFor(key: Uint8Array): FrameVerifier {
  const hex = publicKeyHex(key);
  let v = verifiers.get(hex);
  if (v === undefined) {
    // bounded, oldest first out: a fleet of thousands of agents keeps every key's KeyObject
    // (clearing the whole cache at 1,024 keys rebuilt a KeyObject per message beyond that)
    if (verifiers.size >= MAX_VERIFIERS) verifiers.delete(verifiers.keys().next().value as string);
    v = ed25519Verifier(key);
    verifiers.set(hex, v);
  }
  return v;
}

function sameKey(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Short form of a key for messages: its first 16 hex digits. */
export function keyLabel(key: Uint8Array): string {
  return publicKeyHex(key).slice(0, 16);
}

function refuse(message: string, details: Record<string, unknown>): never {
  throw new TinyProtoError('E_CODEC_SIGNATURE', message, details);
}

/**
 * Checks `frame` against `known` (null: no key yet). Returns what verified and what to pin;
 * throws E_CODEC_* for a damaged frame and E_CODEC_SIGNATURE for one that is not authentic.
 */
export function authenticateFrame(frame: Uint8Array, known: Uint8Array | null, opts: AuthenticateOptions): Authenticated {
  const h = frameHeader(frame);
  const what = `${MESSAGE_TYPE_NAMES[h.type] ?? 'message'} from "${h.sender}" (round ${h.round})`;
  const signedBytes = (): Uint8Array => signedPart(frame, h);
  if (h.signature === null) {
    if (known !== null) {
      refuse(`unsigned ${what}: ${opts.owner} signs with key ${keyLabel(known)}`, { sender: h.sender, pinned: publicKeyHex(known) });
    }
    if (opts.allowUnsigned === true) return { header: h, key: null, pin: null };
    refuse(`unsigned ${what}: a signature by ${opts.owner} is required`, { sender: h.sender });
  }
  if (known !== null) {
    if (h.signerKey !== null && !sameKey(h.signerKey, known)) {
      refuse(`${what} is signed with key ${keyLabel(h.signerKey)}, but ${opts.owner}'s key is ${keyLabel(known)}: refused (a different key for the same sender)`, {
        sender: h.sender,
        pinned: publicKeyHex(known),
        offered: publicKeyHex(h.signerKey),
        keyChanged: true,
      });
    }
    if (!verifierFor(known).verify(signedBytes(), h.signature)) {
      refuse(`${what}: signature does not verify against ${opts.owner}'s key ${keyLabel(known)}`, { sender: h.sender, pinned: publicKeyHex(known) });
    }
    return { header: h, key: known, pin: null };
  }
  if (!opts.pinOnFirstContact) refuse(`${what}: no key is configured for ${opts.owner}`, { sender: h.sender });
  if (h.signerKey === null) refuse(`${what} is signed, but no key is known for ${opts.owner} and the frame does not carry one`, { sender: h.sender });
  if (!verifierFor(h.signerKey).verify(signedBytes(), h.signature)) {
    refuse(`${what}: signature does not verify against the key it carries`, { sender: h.sender, offered: publicKeyHex(h.signerKey) });
  }
  return { header: h, key: h.signerKey, pin: new Uint8Array(h.signerKey) };
}
