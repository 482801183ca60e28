import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { request } from 'node:http';
import { resolveExperimentConfig, type ExperimentConfig } from '../aggregator/config.ts';
import { openAggregatorStore, type AggregatorStore } from '../aggregator/store.ts';
import { dashboardState, summarizeTelemetry, type DashboardState } from './state.ts';
import { parseDashboardPort, startDashboard } from './server.ts';
import { DASHBOARD_PAGE } from './page.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

class FakeAggregator extends EventEmitter {
  currentRound = 0;
  readonly scale = 0.0123;
  constructor(readonly config: ExperimentConfig) {
    super();
  }
}

const EXP = 'dash';

function setup(): { agg: FakeAggregator; store: AggregatorStore } {
  const config = resolveExperimentConfig({ experiment: EXP, agents: ['agent-0', 'agent-1'], rounds: 3, totalTrainSamples: 100 });
  const store = openAggregatorStore(':memory:');
  store.createExperiment(EXP, { ...config }, null);
  return { agg: new FakeAggregator(config), store };
}

function telemetry(agent: string, round: number, head: number, testCount: number, joules: number, rssMb: number): RoundTelemetry {
  return {
    experiment: EXP,
    agent,
    round,
    family: 'resnet8',
    board: 'x86-generic',
    phases: { dataLoad: 0, train: 1, prototypes: 0.1, encode: 0.01, upload: 0.02, waitGlobal: 0.5, evaluate: 0.2, round: round + 1 },
    memory: { peakRssBytes: rssMb * 1e6, heapUsedBytes: 1, engineBytes: 1, engineTensors: 1, wasmHeapBytes: null, freeSystemBytes: 1 },
    cpu: { userSeconds: 1, systemSeconds: 0 },
    net: { bytesSent: 100, bytesReceived: 100 },
    temperatureC: null,
    energy: { joules, source: 'estimate', detail: 'x86-generic' },
    accuracy: { head, prototype: head / 2, testCount },
    at: 1,
  };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(url: string, opts: { method?: string; headers?: Record<string, string> } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

/** An open SSE stream: its text so far, a wait for a text, and whether the server ended it. */
function sse(url: string): Promise<{ text: () => string; waitFor: (s: string) => Promise<string>; ended: Promise<void>; destroy: () => void }> {
  return new Promise((resolve, reject) => {
    let text = '';
    const waiters: { s: string; resolve: (t: string) => void }[] = [];
    let endResolve!: () => void;
    const ended = new Promise<void>((r) => (endResolve = r));
    const req = request(`${url}events`, (res) => {
      assert.equal(res.statusCode, 200);
      assert.match(String(res.headers['content-type']), /^text\/event-stream/);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        for (const w of [...waiters]) {
          const i = text.indexOf(w.s);
          if (i >= 0) {
            waiters.splice(waiters.indexOf(w), 1);
            w.resolve(text.slice(i));
          }
        }
      });
      res.on('end', endResolve);
      res.on('close', endResolve);
      resolve({
        text: () => text,
        waitFor: (s) =>
          text.includes(s)
            ? Promise.resolve(text.slice(text.indexOf(s)))
            : new Promise((r, j) => {
                waiters.push({ s, resolve: r });
                setTimeout(() => j(new Error(`no "${s}" on the event stream; got ${text.slice(0, 300)}`)), 5000).unref();
              }),
        ended,
        destroy: () => req.destroy(),
      });
    });
    req.on('error', reject);
    req.end();
  });
}

function parseFrame(frame: string): { event: string; data: { event: unknown; state: DashboardState } } {
  const ev = /^event: (.*)$/m.exec(frame);
  const data = /^data: (.*)$/m.exec(frame);
  assert.ok(ev && data, `not an SSE frame: ${frame.slice(0, 200)}`);
  return { event: ev[1]!, data: JSON.parse(data[1]!) };
}

test('summarizeTelemetry weights accuracy by test count and sums energy', () => {
  assert.equal(summarizeTelemetry([]), null);
  const s = summarizeTelemetry([telemetry('agent-0', 1, 0.5, 100, 2, 100), telemetry('agent-1', 1, 0.8, 300, 3, 200)])!;
  assert.equal(s.records, 2);
  assert.ok(Math.abs(s.accuracyHead! - (0.5 * 100 + 0.8 * 300) / 400) < 1e-12);
  assert.ok(Math.abs(s.accuracyPrototype! - (0.25 * 100 + 0.4 * 300) / 400) < 1e-12);
  assert.equal(s.testCount, 400);
  assert.equal(s.energyJ, 5);
  assert.equal(s.peakRssMbMean, 150);
  assert.equal(s.peakRssMbMax, 200);
  assert.equal(s.latencyMeanS, 2);
});

test('parseDashboardPort takes 0..65535 only', () => {
  assert.equal(parseDashboardPort('0'), 0);
  assert.equal(parseDashboardPort('8080'), 8080);
  for (const bad of ['', '-1', '65536', '80.5', 'http', '1e3']) assert.throws(() => parseDashboardPort(bad), { code: 'E_CONFIG' }, bad);
});

test('GET /api/state has the experiment, current round, agents, closed rounds with telemetry, rejections', async () => {
  const { agg, store } = setup();
  const now = Date.now();
  store.openRound(EXP, 1, new Uint8Array([1]), now + 60_000);
  store.recordUpload(EXP, 1, 'agent-0', new Uint8Array(100), now);
  store.recordUpload(EXP, 1, 'agent-1', new Uint8Array(120), now);
  store.closeRound(EXP, 1, new Uint8Array(50), { round: 1, uploads: 2, selected: 2, bytesIn: 220, globalBytes: 50, classesWithGlobal: 10, seconds: 4.5 });
  store.openRound(EXP, 2, new Uint8Array([2]), now + 90_000);
  store.recordUpload(EXP, 2, 'agent-1', new Uint8Array(100), now);
  agg.currentRound = 2;
  store.upsertAgent(EXP, 'agent-0', { state: 'training', family: 'resnet8', lastSeen: now, lastRound: 1 });
  store.recordRejection(EXP, 1, 'agent-1', 'E_CODEC_CRC', 'bad crc', now);
  store.recordTelemetry(EXP, 'agent-0', 1, telemetry('agent-0', 1, 0.6, 100, 1.5, 120), now);
  store.recordTelemetry(EXP, 'agent-1', 1, telemetry('agent-1', 1, 0.7, 100, 2.5, 180), now);
  const dash = await startDashboard({ aggregator: agg, store });
  try {
    assert.match(dash.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    const r = await get(`${dash.url}api/state`);
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const s = JSON.parse(r.body) as DashboardState;
    assert.deepEqual(
      { ...s.experiment },
      { id: EXP, method: 'tinyproto', status: 'running', numClasses: 10, d: 500, r: 0.1, mu: 0.0123, rounds: 3, valueType: 'float32', participation: 1, roundDeadlineMs: 600_000, agents: 2, currentRound: 2 },
    );
    assert.deepEqual(s.current, { round: 2, deadlineMs: now + 90_000, openedAt: s.current!.openedAt, uploads: 1, selected: 2 });
    assert.deepEqual(s.agents, [
      { id: 'agent-0', state: 'training', online: true, family: 'resnet8', lastSeen: now, lastRound: 1 },
      { id: 'agent-1', state: 'unseen', online: false, family: null, lastSeen: null, lastRound: null },
    ]);
    assert.equal(s.rounds.length, 1);
    const r1 = s.rounds[0]!;
    assert.deepEqual({ ...r1, telemetry: null, closedAt: null }, { round: 1, uploads: 2, selected: 2, bytesIn: 220, globalBytes: 50, classesWithGlobal: 10, seconds: 4.5, closedAt: null, telemetry: null });
    assert.ok(Math.abs(r1.telemetry!.accuracyHead! - 0.65) < 1e-12);
    assert.equal(r1.telemetry!.energyJ, 4);
    assert.equal(r1.telemetry!.peakRssMbMax, 180);
    assert.deepEqual(s.totals, { roundsClosed: 1, bytesIn: 220, globalBytes: 50, energyJ: 4 });
    assert.deepEqual(s.rejections, { E_CODEC_CRC: 1 });
    assert.equal(s.recentRejections[0]!.code, 'E_CODEC_CRC');
    assert.equal(s.telemetryAvailable, true);

    const t = await get(`${dash.url}api/telemetry`);
    assert.equal(t.status, 200);
    const records = JSON.parse(t.body) as RoundTelemetry[];
    assert.deepEqual(records.map((x) => x.agent), ['agent-0', 'agent-1']);

    const page = await get(dash.url);
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    assert.match(String(page.headers['content-security-policy']), /script-src 'sha256-/);
    assert.equal(page.body, DASHBOARD_PAGE);
    assert.doesNotMatch(page.body, /(src|href)="https?:/, 'no external resources');
  } finally {
    await dash.close();
    store.close();
  }
});

test('the state works with a store without telemetry (before it existed)', () => {
  const { agg, store } = setup();
  try {
    const bare = { rounds: store.rounds.bind(store), agents: store.agents.bind(store), rejectionCounts: store.rejectionCounts.bind(store), getExperiment: store.getExperiment.bind(store) };
    const s = dashboardState(agg, bare);
    assert.equal(s.telemetryAvailable, false);
    assert.equal(s.current, null);
    assert.deepEqual(s.rounds, []);
    assert.deepEqual(s.recentRejections, []);
    assert.equal(s.totals.energyJ, null);
  } finally {
    store.close();
  }
});

test('GET /events: a state on connect, then an event named after each aggregator event with the updated state', async () => {
  const { agg, store } = setup();
  const dash = await startDashboard({ aggregator: agg, store, heartbeatMs: 100 });
  try {
    const stream = await sse(dash.url);
    const first = parseFrame(await stream.waitFor('event: state'));
    assert.equal(first.data.state.experiment.id, EXP);
    assert.deepEqual(first.data.state.rounds, []);
    await stream.waitFor(': heartbeat');

    store.openRound(EXP, 1, new Uint8Array([1]), Date.now() + 1000);
    store.recordUpload(EXP, 1, 'agent-0', new Uint8Array(64), Date.now());
    const summary = { round: 1, uploads: 1, selected: 2, bytesIn: 64, globalBytes: 40, classesWithGlobal: 3, seconds: 1.25 };
    store.closeRound(EXP, 1, new Uint8Array(40), summary);
    agg.currentRound = 1;
    agg.emit('roundClosed', summary);
    const closed = parseFrame(await stream.waitFor('event: roundClosed'));
    assert.deepEqual(closed.data.event, summary);
    assert.equal(closed.data.state.rounds.length, 1);
    assert.equal(closed.data.state.rounds[0]!.bytesIn, 64);

    agg.emit('status', { agent: 'agent-1', state: 'idle', timeMs: 1, lastRound: 1, modelFamily: 'resnet8', note: '' });
    agg.emit('failure', new Error('boom'));
    assert.equal((parseFrame(await stream.waitFor('event: status')).data.event as { agent: string }).agent, 'agent-1');
    assert.deepEqual(parseFrame(await stream.waitFor('event: failure')).data.event, { message: 'boom' });
    stream.destroy();
  } finally {
    await dash.close();
    store.close();
  }
  assert.equal(agg.listenerCount('roundClosed'), 0, 'close() detaches from the aggregator');
});

test('unknown paths 404, other methods 405, foreign Host headers 403 (all JSON)', async () => {
  const { agg, store } = setup();
  const dash = await startDashboard({ aggregator: agg, store });
  try {
    const nf = await get(`${dash.url}nope`);
    assert.equal(nf.status, 404);
    assert.deepEqual(JSON.parse(nf.body), { error: 'not found', path: '/nope' });
    for (const method of ['POST', 'PUT', 'DELETE', 'HEAD']) {
      const r = await get(`${dash.url}api/state`, { method });
      assert.equal(r.status, 405, method);
      assert.equal(r.headers['allow'], 'GET');
      if (method !== 'HEAD') assert.equal(JSON.parse(r.body).error, 'method not allowed');
    }
    const rebind = await get(`${dash.url}api/state`, { headers: { host: `evil.example:${dash.port}` } });
    assert.equal(rebind.status, 403);
    assert.equal((await get(`${dash.url}api/state`, { headers: { host: `localhost:${dash.port}` } })).status, 200);
  } finally {
    await dash.close();
    store.close();
  }
});

test('close() ends open event streams and stops listening', async () => {
  const { agg, store } = setup();
  const dash = await startDashboard({ aggregator: agg, store });
  try {
    const a = await sse(dash.url);
    const b = await sse(dash.url);
    await a.waitFor('event: state');
    await b.waitFor('event: state');
    const t0 = Date.now();
    await dash.close();
    await Promise.all([a.ended, b.ended]);
    assert.ok(Date.now() - t0 < 2000);
    await dash.close(); // idempotent
    await assert.rejects(get(`${dash.url}api/state`));
  } finally {
    store.close();
  }
});
