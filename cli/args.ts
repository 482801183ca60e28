/** Turning command-line strings into typed options, with errors that name the flag. */
import { TinyProtoError } from '../common/errors.ts';

export function flagNumber(flag: string, v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new TinyProtoError('E_CONFIG', `--${flag} expects a number, got "${v}"`);
  return n;
}

export function flagInt(flag: string, v: string | undefined): number | undefined {
  const n = flagNumber(flag, v);
  if (n !== undefined && !Number.isInteger(n)) throw new TinyProtoError('E_CONFIG', `--${flag} expects an integer, got "${v}"`);
  return n;
}

export function flagList(v: string | undefined): string[] | undefined {
  return v === undefined ? undefined : v.split(',').map((s) => s.trim()).filter(Boolean);
}
