/**
 * A live web dashboard of one aggregator, its HTTP/SSE server: node:http only, no framework,
 * read-only. What it serves is ./state.ts's projection of the store.
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
import { DASHBOARD_PAGE, DASHBOARD_SCRIPT_HASH } from './page.ts';
import { dashboardState, readTelemetry, type DashboardAggregator, type DashboardState, type DashboardStore } from './state.ts';

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

/** The aggregator events forwarded to /events. */
const DASHBOARD_EVENTS = ['roundOpened', 'upload', 'rejected', 'roundClosed', 'status', 'finished', 'failure'] as const;
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
