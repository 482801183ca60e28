/**
 * A live web dashboard of one aggregator: node:http only, no framework, read-only.
 *
 *   GET /               the page (dashboard/page.ts: self-contained HTML, CSS and JS)
 *   GET /api/state      JSON DashboardState: experiment, current round, agents, closed rounds
 *                       (with per-round telemetry aggregates when the store has telemetry), rejections
 *   GET /api/telemetry  JSON array of the raw RoundTelemetry records (empty when the store has none)
 *   GET /events         Server-Sent Events: one event per aggregator event, named after it
 *                       (roundOpened, upload, rejected, roundClosed, status, finished, failure), its
 *                       data {event, state}; a `state` event on connect; a heartbeat comment every 15 s
 *
 * Unknown paths answer 404 and methods other than GET 405, both as JSON.
 *
 * Security: there is no authentication. By default it binds to 127.0.0.1 and then only answers
 * requests whose Host header names a loopback address (against DNS rebinding); reach it from
 * another machine with an SSH tunnel (`ssh -L 8080:127.0.0.1:8080 board`). Binding to another
 * host (e.g. 0.0.0.0) exposes the experiment's state to anyone who can reach the port.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { TinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import type { ExperimentConfig } from '../aggregator/config.ts';
import { selectParticipants } from '../method/selection.ts';
import type { AggregatorStore } from '../aggregator/store.ts';
import type { RoundClosed } from '../aggregator/aggregator.ts';
import { DASHBOARD_PAGE, DASHBOARD_SCRIPT_HASH } from './page.ts';
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

export interface DashboardOptions {
  aggregator: DashboardAggregator;
  store: DashboardStore;
  /** 0 (default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1 (loopback only). Anything else exposes the dashboard without authentication. */
  host?: string;
  logger?: Logger;
  /** SSE heartbeat period (default 15 000 ms). */
  heartbeatMs?: number;
}

export interface Dashboard {
  /** http://host:port/ */
  readonly url: string;
  readonly port: number;
  /** Ends open event streams, stops listening and detaches from the aggregator. Idempotent. */
  close(): Promise<void>;
}

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
export interface DashboardRound extends RoundClosed {
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

/** The aggregator events forwarded to /events. */
export const DASHBOARD_EVENTS = ['roundOpened', 'upload', 'rejected', 'roundClosed', 'status', 'finished', 'failure'] as const;

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

function readTelemetry(store: DashboardStore, experiment: string): { available: boolean; records: RoundTelemetry[] } {
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
        selected: selectParticipants(c.agents, c.participation, c.seed, open.round).length,
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

/** A `--dashboard PORT` value: an integer 0..65535 (0 = any free port). E_CONFIG otherwise. */
export function parseDashboardPort(value: string, flag = 'dashboard'): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n > 65_535) {
    throw new TinyProtoError('E_CONFIG', `--${flag} expects a port number 0..65535, got "${value}"`);
  }
  return n;
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isLoopback(host: string): boolean {
  return LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** The hostname part of a Host header ("[::1]:8080" -> "[::1]", "a:80" -> "a"). */
function hostName(header: string | undefined): string {
  if (!header) return '';
  const h = header.toLowerCase();
  if (h.startsWith('[')) return h.slice(0, h.indexOf(']') + 1);
  const i = h.indexOf(':');
  return i < 0 ? h : h.slice(0, i);
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function sendJson(res: ServerResponse, status: number, body: unknown, extra: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...extra });
  res.end(text);
}

function sseFrame(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** Starts the dashboard's HTTP server; resolves once it listens. */
export async function startDashboard(opts: DashboardOptions): Promise<Dashboard> {
  const { aggregator, store } = opts;
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? silentLogger;
  const heartbeatMs = opts.heartbeatMs ?? 15_000;
  const loopbackOnly = isLoopback(host.toLowerCase());
  const clients = new Set<ServerResponse>();
  let closed = false;

  const state = (): DashboardState => dashboardState(aggregator, store);

  // aggregator events arrive inside its task queue: never throw back into it, and read the
  // store once per batch of events of one turn of the event loop
  let pending: { event: string; payload: unknown }[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = pending;
    pending = [];
    if (closed || clients.size === 0) return;
    let s: DashboardState;
    try {
      s = state();
    } catch (e) {
      logger.warn('dashboard: cannot read the state', { error: (e as Error).message });
      return;
    }
    const text = batch.map((b) => sseFrame(b.event, { event: b.payload, state: s })).join('');
    for (const res of clients) res.write(text);
  };
  const listeners = DASHBOARD_EVENTS.map((event) => {
    const fn = (payload: unknown): void => {
      if (closed || clients.size === 0) return;
      pending.push({ event, payload: payload instanceof Error ? { message: payload.message } : (payload ?? null) });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    };
    aggregator.on(event, fn);
    return { event, fn };
  });

  const heartbeat = setInterval(() => {
    for (const res of clients) res.write(`: heartbeat ${Date.now()}\n\n`);
  }, heartbeatMs);
  heartbeat.unref();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    if (loopbackOnly && !isLoopback(hostName(req.headers.host))) {
      sendJson(res, 403, { error: 'forbidden', message: 'this dashboard answers only requests addressed to a loopback host' });
      return;
    }
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'method not allowed', method: req.method ?? '' }, { allow: 'GET' });
      return;
    }
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    try {
      switch (path) {
        case '/':
        case '/index.html': {
          res.writeHead(200, {
            ...SECURITY_HEADERS,
            'content-type': 'text/html; charset=utf-8',
            'content-length': Buffer.byteLength(DASHBOARD_PAGE),
            'content-security-policy': `default-src 'none'; script-src '${DASHBOARD_SCRIPT_HASH}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
          });
          res.end(DASHBOARD_PAGE);
          return;
        }
        case '/api/state':
          sendJson(res, 200, state());
          return;
        case '/api/telemetry':
          sendJson(res, 200, readTelemetry(store, aggregator.config.experiment).records);
          return;
        case '/events': {
          const first = sseFrame('state', { event: null, state: state() });
          res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
          res.write(`retry: 2000\n\n${first}`);
          clients.add(res);
          const drop = (): void => void clients.delete(res);
          req.on('close', drop);
          res.on('close', drop);
          return;
        }
        default:
          sendJson(res, 404, { error: 'not found', path });
      }
    } catch (e) {
      logger.warn('dashboard: request failed', { path, error: (e as Error).message });
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error', message: (e as Error).message });
      else res.end();
    }
  };

  const server: Server = createServer(handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (e) => logger.error('dashboard: server error', { error: e.message }));
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  const url = `http://${urlHost}:${port}/`;
  logger.info('dashboard listening', { url, host, port, loopbackOnly });

  let closing: Promise<void> | null = null;
  return {
    url,
    port,
    close(): Promise<void> {
      if (closing) return closing;
      closed = true;
      clearInterval(heartbeat);
      for (const { event, fn } of listeners) aggregator.off(event, fn);
      for (const res of clients) res.end();
      clients.clear();
      closing = new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
