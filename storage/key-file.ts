/** Reading an Ed25519 private key (PKCS#8 PEM) from a file, for the agent's and the aggregator's `--signing-key`. */
import { readFileSync } from 'node:fs';
import { TinyProtoError } from '../common/errors.ts';
import { ed25519Signer, type FrameSigner } from '../wire/signature.ts';

/** A signer from the PEM file at `path`; E_KEY when it cannot be read or is not an Ed25519 key. */
export function signerFromKeyFile(path: string): FrameSigner {
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TinyProtoError('E_KEY', `cannot read the signing key file ${path}: ${(e as Error).message}`);
  }
  return ed25519Signer(pem);
}
