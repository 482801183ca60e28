/**
 * The dashboard's state projection, pure: the aggregator's config and what its store holds ->
 * DashboardState (experiment, current round, agents, closed rounds with per-round telemetry
 * aggregates, rejections). Served by ./server.ts as /api/state and with every /events event.
 */
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { ExperimentConfig } from '../aggregator/config.ts';
import { participantsPerRound } from '../method/selection.ts';
import type { RoundOutcome } from '../aggregator/round-policy.ts';
import type { AggregatorStore } from '../aggregator/store.ts';
import type { RoundClosed } from '../aggregator/aggregator.ts';
import { recordedScores, weightedAccuracy } from '../learner/eval.ts';

/** What the dashboard needs from the aggregator (aggregator/aggregator.ts's Aggregator has it). */
export interface DashboardAggregator {
  readonly config: ExperimentConfig;
  readonly currentRound: number;
  /** mu in use (null for methods without scaling); falls back to config.mu when absent. */
  readonly scale?: number | null;
  on(event: string, listener: (payload: unknown) => void): unknown;
  off(event: string, listener: (payload: unknown) => void): unknown;
}

/** What the dashboard reads from the store; `telemetry` and `rejections` are used when present. */
export type DashboardStore = Pick<AggregatorStore, 'rounds' | 'agents' | 'rejectionCounts' | 'getExperiment'> &
  Partial<Pick<AggregatorStore, 'telemetry' | 'rejections'>>;

export interface DashboardAgent {
  id: string;
  /** Last reported state (offline, online, training, uploading, idle), or 'unseen'. */
  state: string;
  online: boolean;
  family: string | null;
  /** Unix ms, null when never seen. */
  lastSeen: number | null;
  lastRound: number | null;
}

export interface RoundTelemetrySummary {
  /** Telemetry records for the round. */
  records: number;
  /** Test-count-weighted mean accuracy of the agents that evaluated (null: none did). */
  accuracyHead: number | null;
  accuracyPrototype: number | null;
  testCount: number;
  /** Total energy of the agents in the round, joules. */
  energyJ: number;
  /** Peak resident set size over the agents, MB (10^6 bytes). */
  peakRssMbMean: number;
  peakRssMbMax: number;
  /** Mean of the agents' round latency (announcement -> evaluation done), seconds. */
  latencyMeanS: number;
}

/** A closed round as the aggregator summarised it, plus when it closed and its telemetry. */
export interface DashboardRound extends Omit<RoundClosed, 'outcome' | 'reason' | 'mu' | 'totalTrainSamples' | 'muSource'>, Partial<Pick<RoundClosed, 'outcome' | 'reason' | 'mu' | 'totalTrainSamples' | 'muSource'>> {
  closedAt: number | null;
  telemetry: RoundTelemetrySummary | null;
}

export interface DashboardState {
  /** Server clock (Unix ms) when the state was taken, for countdowns on another clock. */
  serverTime: number;
  experiment: {
    id: string;
    method: string;
    status: string;
    numClasses: number;
    d: number;
    r: number;
    mu: number | 'auto' | null;
    rounds: number;
    valueType: string;
    participation: number;
    roundDeadlineMs: number;
    agents: number;
    /** The aggregator's current round (the last one once finished; 0 before the first). */
    currentRound: number;
  };
  /** The round in progress; null before the first round and after the last one closed. */
  current: { round: number; deadlineMs: number; openedAt: number; uploads: number; selected: number } | null;
  agents: DashboardAgent[];
  /** Closed rounds, ascending. */
  rounds: DashboardRound[];
  totals: { roundsClosed: number; bytesIn: number; globalBytes: number; energyJ: number | null };
  rejections: Record<string, number>;
  recentRejections: { round: number | null; agent: string | null; code: string; message: string; at: number }[];
  telemetryAvailable: boolean;
}

const num = (v: unknown, dflt = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : dflt);

/** Per-round aggregates of telemetry records (all of one round). */
export function summarizeTelemetry(records: readonly RoundTelemetry[]): RoundTelemetrySummary | null {
  if (records.length === 0) return null;
  const scores = records.map((t) => recordedScores(t.accuracy));
  let energy = 0;
  let rssSum = 0;
  let rssMax = 0;
  let latency = 0;
  for (const t of records) {
    energy += num(t.energy?.joules);
    const rss = num(t.memory?.peakRssBytes) / 1e6;
    rssSum += rss;
    rssMax = Math.max(rssMax, rss);
    latency += num(t.phases?.round);
  }
  return {
    records: records.length,
    accuracyHead: weightedAccuracy(scores.map((x) => x.head)),
    accuracyPrototype: weightedAccuracy(scores.map((x) => x.prototype)),
    // the test samples of the agents that evaluated
    testCount: scores.reduce((n, x) => n + (x.head.correct !== null && x.head.count > 0 ? x.head.count : 0), 0),
    energyJ: energy,
    peakRssMbMean: rssSum / records.length,
    peakRssMbMax: rssMax,
    latencyMeanS: latency / records.length,
  };
}

/** The store's telemetry of the experiment; not available when the store keeps none. */
export function readTelemetry(store: DashboardStore, experiment: string): { available: boolean; records: RoundTelemetry[] } {
  if (typeof store.telemetry !== 'function') return { available: false, records: [] };
  return { available: true, records: store.telemetry(experiment) };
}

const ACTIVE = new Set(['online', 'training', 'uploading', 'idle']);

/** The dashboard's view of the experiment, from the store (and the aggregator's config). */
export function dashboardState(aggregator: DashboardAggregator, store: DashboardStore, now = Date.now()): DashboardState {
  const c = aggregator.config;
  const id = c.experiment;
  const exp = store.getExperiment(id);
  const telemetry = readTelemetry(store, id);
  const byRound = new Map<number, RoundTelemetry[]>();
  for (const t of telemetry.records) {
    const list = byRound.get(t.round);
    if (list) list.push(t);
    else byRound.set(t.round, [t]);
  }
  const summaries = store.rounds(id);
  const rounds: DashboardRound[] = summaries
    .filter((r) => r.status === 'closed')
    .map((r) => {
      const s = r.summary ?? {};
      return {
        round: r.round,
        uploads: num(s['uploads'], r.uploads),
        selected: num(s['selected']),
        bytesIn: num(s['bytesIn']),
        globalBytes: num(s['globalBytes'], r.globalSize ?? 0),
        classesWithGlobal: num(s['classesWithGlobal']),
        seconds: num(s['seconds']),
        // rounds closed by older versions have no outcome recorded
        ...(typeof s['outcome'] === 'string' ? { outcome: s['outcome'] as RoundOutcome, reason: String(s['reason'] ?? '') } : {}),
        closedAt: r.closedAt,
        telemetry: summarizeTelemetry(byRound.get(r.round) ?? []),
      };
    });
  // one round is open at a time; the newest open one is the round in progress
  const open = summaries.filter((r) => r.status === 'open').at(-1);
  const current = open
    ? {
        round: open.round,
        deadlineMs: open.deadlineMs,
        openedAt: open.openedAt,
        uploads: open.uploads,
        selected: participantsPerRound(c.agents.length, c.participation),
      }
    : null;
  const seen = new Map(store.agents(id).map((a) => [a.agent, a]));
  const ids = [...c.agents, ...[...seen.keys()].filter((a) => !c.agents.includes(a))];
  const agents: DashboardAgent[] = ids.map((a) => {
    const r = seen.get(a);
    const state = r?.state ?? 'unseen';
    return { id: a, state, online: ACTIVE.has(state), family: r?.family || null, lastSeen: r?.lastSeen ?? null, lastRound: r?.lastRound ?? null };
  });
  const energies = rounds.map((r) => r.telemetry?.energyJ).filter((e): e is number => e !== undefined);
  return {
    serverTime: now,
    experiment: {
      id,
      method: c.method,
      status: exp?.status ?? 'running',
      numClasses: c.numClasses,
      d: c.featureDim,
      r: c.ratio,
      mu: aggregator.scale !== undefined ? aggregator.scale : c.method === 'tinyproto' ? c.mu : null,
      rounds: c.rounds,
      valueType: c.valueType,
      participation: c.participation,
      roundDeadlineMs: c.roundDeadlineMs,
      agents: c.agents.length,
      currentRound: aggregator.currentRound,
    },
    current,
    agents,
    rounds,
    totals: {
      roundsClosed: rounds.length,
      bytesIn: rounds.reduce((a, r) => a + r.bytesIn, 0),
      globalBytes: rounds.reduce((a, r) => a + r.globalBytes, 0),
      energyJ: energies.length > 0 ? energies.reduce((a, b) => a + b, 0) : null,
    },
    rejections: store.rejectionCounts(id),
    recentRejections: typeof store.rejections === 'function' ? store.rejections(id, 10).map(({ round, agent, code, message, at }) => ({ round, agent, code, message, at })) : [],
    telemetryAvailable: telemetry.available,
  };
}
