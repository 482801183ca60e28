/**
 * Aggregator store internals: argument checks, byte comparison and the round row shape.
 * Not part of the public API.
 */
import { storeError, toBlob } from '../storage/sqlite.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { AgentFields, RoundStatus } from './store-types.ts';

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

export function checkAgentFields(path: string, agent: string, fields: AgentFields): void {
  checkId(path, 'agent id', agent);
  checkTime(path, 'lastSeen', fields.lastSeen);
  if (fields.lastRound !== undefined) checkRound(path, fields.lastRound);
}

/** The named parameters of the agent upsert statement. */
export function agentRow(experiment: string, agent: string, fields: AgentFields): Record<string, unknown> {
  return {
    experiment,
    agent,
    family: fields.family ?? null,
    state: fields.state ?? null,
    lastSeen: Math.round(fields.lastSeen),
    lastRound: fields.lastRound ?? null,
  };
}

/** Checks a telemetry record against its key (E_STORE); its JSON. */
export function telemetryJson(path: string, experiment: string, agent: string, round: number, record: RoundTelemetry, at: number): string {
  checkRound(path, round);
  checkId(path, 'agent id', agent);
  checkTime(path, 'at', at);
  if (record.experiment !== experiment || record.agent !== agent || record.round !== round) {
    throw storeError(
      path,
      `telemetry record is for ${JSON.stringify(record.experiment)}/${JSON.stringify(record.agent)}/round ${String(record.round)}, ` +
        `not ${JSON.stringify(experiment)}/${JSON.stringify(agent)}/round ${round}`,
    );
  }
  return JSON.stringify(record);
}
