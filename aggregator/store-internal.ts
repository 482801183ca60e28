/**
 * Aggregator store internals: argument checks, byte comparison and the round row shape.
 * Not part of the public API.
 */
import { storeError, toBlob } from '../storage/sqlite.ts';
import type { RoundStatus } from './store-types.ts';

export function checkRound(path: string, round: number): void {
  if (!Number.isSafeInteger(round) || round < 0) throw storeError(path, `invalid round ${String(round)}`);
}

export function checkId(path: string, what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0) throw storeError(path, `invalid ${what} ${JSON.stringify(s)}`);
}

export function checkTime(path: string, what: string, t: number): void {
  if (!Number.isFinite(t)) throw storeError(path, `invalid ${what} ${String(t)}`);
}

export function sameBytes(a: Uint8Array | null, b: Uint8Array | null): boolean {
  if (a === null || b === null) return a === b;
  return Buffer.compare(toBlob(a), toBlob(b)) === 0;
}

export interface RoundRow {
  round: number;
  status: RoundStatus;
  opened_at: number;
  deadline_ms: number;
  closed_at: number | null;
  announcement: unknown;
  global: unknown;
  summary: string | null;
  uploads: number;
}
