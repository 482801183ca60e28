/**
 * `tinyproto server --fleet F`: the experiment's EXPERIMENT announcement (PROTOCOL.md §3.9) to
 * the long-lived agents of fleet F: the data set and its partition, d, K, the method, and which
 * agent is which client (from the experiment's agent list). Published retained when the
 * experiment opens (and again after a reconnection), and with state ended when it has finished.
 */
import { TinyProtoError } from '../common/errors.ts';
import { assertValidId } from '../wire/topics.ts';
import { encodeExperiment, MAX_ASSIGNED_AGENTS, type Assignment, type DataSourceKind, type ExperimentBody, type ExperimentState } from '../wire/codec.ts';
import { DATA_SOURCE_KINDS } from '../wire/codec.ts';
import { fail, int, num, oneOf } from '../common/validate.ts';
import type { ExperimentConfig } from './config.ts';

/** What the aggregator tells a fleet beyond its experiment config. */
export interface FleetSpec {
  readonly fleet: string;
  /** Data set name the agents map to a directory (their config's [datasets]), e.g. fashion-mnist. */
  readonly dataset: string;
  readonly source: DataSourceKind;
  /** Shards the data set is split into (default: the number of agents). */
  readonly clients: number | null;
  readonly alpha: number;
  readonly samplesPerClient: number | null;
  /** Backbone per agent, cycled over the agent list; empty = by client index. */
  readonly families: readonly string[];
}

export const FLEET_DEFAULTS: Omit<FleetSpec, 'fleet'> = Object.freeze({
  dataset: 'fashion-mnist',
  source: 'idx',
  clients: null,
  alpha: 0.1,
  samplesPerClient: null,
  families: Object.freeze([]) as readonly string[],
} satisfies Omit<FleetSpec, 'fleet'>);

export function resolveFleetSpec(o: Partial<FleetSpec> & { fleet: string }): FleetSpec {
  const s = { ...FLEET_DEFAULTS, ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) } as FleetSpec;
  assertValidId('fleet', s.fleet);
  if (!/^[A-Za-z0-9._-]{1,32}$/.test(s.dataset)) fail('dataset', 'must be 1 to 32 characters from A-Z a-z 0-9 . _ -', s.dataset);
  oneOf('source', s.source, DATA_SOURCE_KINDS);
  if (s.clients !== null) int('clients', s.clients, 1, 100_000);
  num('alpha', s.alpha, 0, 1e6, { openMin: true });
  if (s.samplesPerClient !== null) int('samplesPerClient', s.samplesPerClient, 4, 2 ** 32 - 1);
  return Object.freeze(s);
}

/** Agent i of the experiment's list is client i: as a list, or the numbered rule for `{prefix}0..{prefix}N-1`. */
function assignmentFor(agents: readonly string[], families: readonly string[]): Assignment {
  if (agents.length <= MAX_ASSIGNED_AGENTS) {
    return { mode: 'list', agents: agents.map((agent, client) => ({ agent, client, family: families.length > 0 ? families[client % families.length]! : null })) };
  }
  const prefix = agents[0]!.replace(/[0-9]+$/, '');
  if (families.length > 0 || !agents.every((a, i) => a === `${prefix}${i}`)) {
    throw new TinyProtoError('E_CONFIG', `a fleet experiment with more than ${MAX_ASSIGNED_AGENTS} agents needs agent ids ${prefix || 'agent-'}0..N-1 in order and no per-agent families`);
  }
  return { mode: 'numbered', prefix };
}

/** The announcement body of `config` to `spec.fleet`. */
export function announcementBody(config: ExperimentConfig, spec: FleetSpec, state: ExperimentState): ExperimentBody {
  const clients = spec.clients ?? config.agents.length;
  if (clients < config.agents.length) fail('clients', `must be at least the number of agents (${config.agents.length})`, clients);
  return {
    state,
    method: config.method,
    fleet: spec.fleet,
    dataset: spec.dataset,
    source: spec.source,
    numClasses: config.numClasses,
    featureDim: config.featureDim,
    clients,
    alpha: spec.alpha,
    seed: config.seed,
    samplesPerClient: spec.samplesPerClient,
    assignment: assignmentFor(config.agents, spec.families),
  };
}

export interface FleetAnnouncer {
  publishFleetAnnouncement(fleet: string, bytes: Uint8Array): Promise<void>;
}

/** Publishes the announcement (retained; the transport signs it). */
export function announceToFleet(transport: FleetAnnouncer, config: ExperimentConfig, spec: FleetSpec, state: ExperimentState, sender: string): Promise<void> {
  const bytes = encodeExperiment({ experiment: config.experiment, sender, round: 0 }, announcementBody(config, spec, state));
  return transport.publishFleetAnnouncement(spec.fleet, bytes);
}
