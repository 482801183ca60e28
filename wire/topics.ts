/**
 * MQTT topic names (PROTOCOL.md): one place that builds and parses them.
 *   tinyproto/{experiment}/masks | round | global            aggregator -> agents, retained
 *   tinyproto/{experiment}/upload | status | telemetry/{agent}   agent -> aggregator
 *   tinyproto/{experiment}/receipt/{agent}                   aggregator -> one agent (or relay), retained
 *   tinyproto/{experiment}/partial/{relay}                   relay -> coordinator (PARTIAL)
 *   tinyproto/fleet/{fleet}/experiment/{experiment}          aggregator -> a fleet's agents, retained
 * (fleet topics have five levels, experiment topics three or four: an experiment named "fleet"
 * does not collide with them)
 */
import { TinyProtoError } from '../common/errors.ts';

export const TOPIC_ROOT = 'tinyproto';
const ID = /^[A-Za-z0-9._-]{1,32}$/;

export type AggregatorTopic = 'masks' | 'round' | 'global';
export type AgentTopic = 'upload' | 'status' | 'telemetry';
/** Per-agent topics the aggregator publishes on (the agent subscribes to its own only). */
export type ReceiptTopic = 'receipt';
/** A relay's partial sums, to the coordinator (an aggregator configured with that relay). */
export type PartialTopic = 'partial';
/** Everything the aggregator receives on a sender's topic: agent messages and relays' partials. */
export type SenderTopic = AgentTopic | PartialTopic;

/** Experiment and agent ids: 1..32 characters of [A-Za-z0-9._-] (they appear in topics and headers). */
export function isValidId(id: string): boolean {
  return ID.test(id);
}

export function assertValidId(kind: 'experiment' | 'agent' | 'fleet', id: string): void {
  if (!isValidId(id)) {
    throw new TinyProtoError('E_CONFIG', `invalid ${kind} id "${id}": use 1 to 32 characters from A-Z a-z 0-9 . _ -`);
  }
}

export function aggregatorTopic(experiment: string, kind: AggregatorTopic): string {
  return `${TOPIC_ROOT}/${experiment}/${kind}`;
}

export function agentTopic(experiment: string, kind: AgentTopic, agent: string): string {
  return `${TOPIC_ROOT}/${experiment}/${kind}/${agent}`;
}

/** The aggregator's receipts for one agent's uploads. */
export function receiptTopic(experiment: string, agent: string): string {
  return `${TOPIC_ROOT}/${experiment}/receipt/${agent}`;
}

/** Where a relay publishes its PARTIALs. */
export function partialTopic(experiment: string, relay: string): string {
  return `${TOPIC_ROOT}/${experiment}/partial/${relay}`;
}

/** Subscription filter for one kind of agent message (or relays' partials) of an experiment. */
export function agentFilter(experiment: string, kind: SenderTopic): string {
  return `${TOPIC_ROOT}/${experiment}/${kind}/+`;
}

export type ParsedTopic =
  | { experiment: string; kind: AggregatorTopic }
  | { experiment: string; kind: SenderTopic | ReceiptTopic; agent: string };

/** Parses a tinyproto topic; null for anything else (wrong root, unknown kind, bad ids). */
export function parseTopic(topic: string): ParsedTopic | null {
  const parts = topic.split('/');
  if (parts[0] !== TOPIC_ROOT) return null;
  const experiment = parts[1];
  const kind = parts[2];
  if (experiment === undefined || !isValidId(experiment) || kind === undefined) return null;
  if (parts.length === 3 && (kind === 'masks' || kind === 'round' || kind === 'global')) return { experiment, kind };
  const agent = parts[3];
  if (parts.length === 4 && (kind === 'upload' || kind === 'status' || kind === 'telemetry' || kind === 'receipt' || kind === 'partial') && agent !== undefined && isValidId(agent)) {
    return { experiment, kind, agent };
  }
  return null;
}

/** The retained EXPERIMENT announcement of one experiment to a fleet. */
export function fleetExperimentTopic(fleet: string, experiment: string): string {
  return `${TOPIC_ROOT}/fleet/${fleet}/experiment/${experiment}`;
}

/** Subscription filter for every experiment announced to a fleet. */
export function fleetExperimentFilter(fleet: string): string {
  return `${TOPIC_ROOT}/fleet/${fleet}/experiment/+`;
}

/** Parses a fleet announcement topic; null for anything else. */
export function parseFleetTopic(topic: string): { fleet: string; experiment: string } | null {
  const p = topic.split('/');
  if (p.length !== 5 || p[0] !== TOPIC_ROOT || p[1] !== 'fleet' || p[3] !== 'experiment') return null;
  const fleet = p[2]!;
  const experiment = p[4]!;
  return isValidId(fleet) && isValidId(experiment) ? { fleet, experiment } : null;
}
