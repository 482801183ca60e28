/**
 * The emulator measured from the outside, on loopback: the delay and the rate a client sees
 * through it against the configured ones, stalls, outages and disconnects; then an MQTT client
 * (as an agent connects) publishing through it to the embedded broker.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import mqtt from 'mqtt';
import { LinkEmulator } from './link-emulator.ts';
import { resolveLinkProfile } from './link-profiles.ts';
import { burstBytes } from './link-direction.ts';
import { startEmbeddedBroker } from '../mqtt/broker.ts';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** A bound on a wait that does not keep the test process alive. */
const limit = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

async function listen(onConn: (s: Socket) => void): Promise<{ server: Server; port: number }> {
  const server = createServer(onConn);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port };
}

async function through(spec: string, upstream: (s: Socket) => void, seed = 1): Promise<{ emu: LinkEmulator; port: number; server: Server; done: () => Promise<void> }> {
  const up = await listen(upstream);
  const emu = new LinkEmulator({ profile: resolveLinkProfile(spec), targetHost: '127.0.0.1', targetPort: up.port, seed });
  const { port } = await emu.start();
  return { emu, port, server: up.server, done: async () => { await emu.close(); up.server.close(); } };
}

async function dial(port: number): Promise<Socket> {
  const s = connect({ host: '127.0.0.1', port });
  s.setNoDelay(true);
  await new Promise<void>((res, rej) => { s.once('connect', () => res()); s.once('error', rej); });
  return s;
}

/** Round trips of 1-byte pings through an echo server. */
async function pings(port: number, n: number, gapMs = 0): Promise<number[]> {
  const s = await dial(port);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const got = new Promise<void>((r) => s.once('data', () => r()));
    s.write('x');
    await Promise.race([got, limit(5_000)]);
    out.push(performance.now() - t);
    if (gapMs) await sleep(gapMs);
  }
  s.destroy();
  return out;
}

const quantile = (xs: number[], q: number): number => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
const median = (xs: number[]): number => quantile(xs, 0.5);
/**
 * Delays are never shorter than configured (the lower bounds are exact); the upper bounds leave
 * SLACK ms for timers firing late on a loaded 2-core machine (the full suite runs 2 files at once).
 */
const SLACK = 20;
const echo = (s: Socket): void => { s.on('data', (d) => s.write(d)); s.on('error', () => {}); };

test('delay: the round trip is the two configured one-way latencies', async (ctx) => {
  const t = await through('none,up-latency=30ms,down-latency=20ms', echo);
  try {
    const rtt = await pings(t.port, 10);
    const m = median(rtt);
    ctx.diagnostic(`median RTT ${m.toFixed(1)} ms (configured 50)`);
    assert.ok(m >= 50 && m < 50 + SLACK, `median RTT ${m.toFixed(1)} ms, configured 50 ms`);
  } finally { await t.done(); }
});

test('jitter: delays spread over [latency, latency + jitter] with the uniform mean', async (ctx) => {
  const t = await through('none,latency=10ms,jitter=30ms', echo, 7);
  try {
    const rtt = await pings(t.port, 30);
    const mean = rtt.reduce((a, b) => a + b, 0) / rtt.length;
    // two independent U[0, 30] draws per round trip: mean 20 + 30 ms
    ctx.diagnostic(`mean RTT ${mean.toFixed(1)} ms (expected 50), range ${Math.min(...rtt).toFixed(1)}-${Math.max(...rtt).toFixed(1)}`);
    assert.ok(Math.min(...rtt) >= 20 && quantile(rtt, 0.9) < 80 + SLACK, `RTT range ${Math.min(...rtt).toFixed(1)}-${Math.max(...rtt).toFixed(1)} ms, configured 20-80`);
    assert.ok(mean > 42 && median(rtt) < 50 + SLACK, `mean RTT ${mean.toFixed(1)} ms, median ${median(rtt).toFixed(1)}, expected about 50`);
    assert.ok(Math.max(...rtt) - Math.min(...rtt) > 15, 'the delays vary');
  } finally { await t.done(); }
});

test('rate: a bulk upload and a bulk download arrive at the configured rates', async (ctx) => {
  let sinkFirst = 0, sinkLast = 0, sinkBytes = 0;
  const DOWN = 300_000;
  const t = await through('none,up=4mbit,down=2mbit', (s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      if (d[0] === 0x44 && sinkBytes === 0 && d.length === 1) { s.write(Buffer.alloc(DOWN, 7)); return; }
      sinkLast = performance.now();
      if (sinkBytes === 0) sinkFirst = sinkLast;
      sinkBytes += d.length;
    });
  });
  try {
    // down first: one byte asks the server for DOWN bytes
    const s = await dial(t.port);
    let got = 0, first = 0, last = 0;
    const all = new Promise<void>((r) => s.on('data', (d) => {
      last = performance.now();
      if (got === 0) first = last;
      got += d.length;
      if (got >= DOWN) r();
    }));
    s.write(Buffer.from([0x44]));
    await Promise.race([all, limit(10_000)]);
    const downRate = ((got - 0) * 8) / ((last - first) / 1000) / 1000;
    ctx.diagnostic(`download ${downRate.toFixed(0)} kbit/s (configured 2000)`);
    assert.equal(got, DOWN);
    // the bucket's burst leaves at once, so the measured rate over a short transfer is a little above
    assert.ok(downRate > 1900 && downRate < 2250, `download ${downRate.toFixed(0)} kbit/s, configured 2000`);
    s.destroy();

    const UP = 600_000;
    const c = await dial(t.port);
    const t0 = performance.now();
    c.write(Buffer.alloc(UP, 1));
    const end = Date.now() + 10_000;
    while (sinkBytes < UP && Date.now() < end) await sleep(10);
    assert.equal(sinkBytes, UP);
    const upRate = (UP * 8) / ((sinkLast - t0) / 1000) / 1000;
    ctx.diagnostic(`upload ${upRate.toFixed(0)} kbit/s (configured 4000)`);
    assert.ok(upRate > 3700 && upRate < 4300, `upload ${upRate.toFixed(0)} kbit/s, configured 4000 (first byte after ${(sinkFirst - t0).toFixed(0)} ms)`);
    c.destroy();
  } finally { await t.done(); }
});

test('loss as TCP sees it: a lost segment stalls the stream for the RTO, nothing is lost', async () => {
  const t = await through('none,stall=0.3,stall-ms=150ms', echo, 3);
  try {
    const rtt = await pings(t.port, 20);
    const stalled = rtt.filter((x) => x >= 140).length;
    const { up, down } = t.emu.stats();
    assert.equal(up.segments, 20);
    assert.ok(up.stalls + down.stalls >= 4, `stalls ${up.stalls + down.stalls}`);
    assert.equal(stalled, rtt.filter((x) => x >= 140).length);
    assert.ok(stalled >= 4 && stalled <= up.stalls + down.stalls, `${stalled} slow round trips for ${up.stalls + down.stalls} stalls`);
    assert.ok(rtt.filter((x) => x < 100).length >= 4, 'unstalled round trips stay fast');
  } finally { await t.done(); }
});

test('an outage holds bytes until it ends; a disconnect resets connections and refuses new ones', async () => {
  const t = await through('none,outage=300ms+400ms', echo);
  try {
    const s = await dial(t.port);
    await sleep(400 - t.emu.now());
    const sent = t.emu.now();
    const back = new Promise<number>((r) => s.once('data', () => r(t.emu.now())));
    s.write('x');
    const at = await Promise.race([back, limit(3_000).then(() => -1)]);
    assert.ok(sent >= 300 && sent < 700, `sent at ${sent.toFixed(0)} ms, during the outage`);
    assert.ok(at >= 700 && at < 800, `echo back at ${at.toFixed(0)} ms; the outage ended at 700`);
    s.destroy();
  } finally { await t.done(); }

  const d = await through('none,disconnect=300ms+400ms', echo);
  try {
    const s = await dial(d.port);
    const closed = new Promise<number>((r) => s.once('close', () => r(d.emu.now())));
    s.on('error', () => {});
    const at = await Promise.race([closed, limit(3_000).then(() => -1)]);
    assert.ok(at >= 300 && at < 450, `reset at ${at.toFixed(0)} ms, scheduled at 300`);
    const refused = await dial(d.port).then(
      (x) => new Promise<boolean>((r) => { x.on('error', () => {}); x.once('close', () => r(true)); x.write('x'); }),
      (e: NodeJS.ErrnoException) => e.code === 'ECONNRESET',
    );
    assert.equal(refused, true);
    await sleep(Math.max(0, 750 - d.emu.now()));
    const rtt = await pings(d.port, 2);
    assert.ok(rtt.every((x) => x < 100), `after the disconnect the link works again (${rtt.map((x) => x.toFixed(0)).join(', ')} ms)`);
    assert.ok(d.emu.stats().resets >= 2);
  } finally { await d.done(); }
});

test('an MQTT client (as an agent connects) sees the configured delay and upload rate', async (ctx) => {
  const broker = await startEmbeddedBroker({ port: 0 });
  const port = Number(new URL(broker.url).port);
  const emu = new LinkEmulator({ profile: resolveLinkProfile('none,latency=25ms,up=1mbit'), targetHost: '127.0.0.1', targetPort: port });
  const addr = await emu.start();
  const client = mqtt.connect(`mqtt://127.0.0.1:${addr.port}`, { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5_000 });
  try {
    await new Promise<void>((res, rej) => { client.once('connect', () => res()); client.once('error', rej); });
    const small: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      await client.publishAsync('t/small', Buffer.alloc(16), { qos: 1 });
      small.push(performance.now() - t);
    }
    const m = median(small);
    ctx.diagnostic(`MQTT QoS 1 round trip ${m.toFixed(1)} ms (configured 50)`);
    assert.ok(m >= 50 && m < 50 + SLACK, `QoS 1 publish round trip ${m.toFixed(1)} ms, configured 2 x 25 ms`);
    const SIZE = 100_000;
    const t = performance.now();
    await client.publishAsync('t/big', Buffer.alloc(SIZE, 3), { qos: 1 });
    const ms = performance.now() - t;
    const expected = 50 + (SIZE * 8) / 1000; // RTT + serialisation at 1 Mbit/s
    ctx.diagnostic(`100 kB QoS 1 publish ${ms.toFixed(0)} ms (expected ${expected.toFixed(0)})`);
    assert.ok(ms > expected * 0.9 && ms < expected * 1.15 + SLACK, `100 kB QoS 1 publish took ${ms.toFixed(0)} ms, expected about ${expected.toFixed(0)}`);
    // the emulator's own record of it: one up transfer of the PUBLISH (payload + MQTT header and
    // topic), lasting the latency + its bytes beyond the bucket's burst at the rate
    const big = emu.stats().transfers.up.filter((x) => x.bytes >= SIZE);
    assert.equal(big.length, 1, 'the 100 kB PUBLISH is one transfer');
    const tr = big[0]!;
    const linkMs = tr.endMs - tr.startMs;
    const floor = 25 + ((tr.bytes - burstBytes(1000)) * 8) / 1000;
    ctx.diagnostic(`up transfer ${tr.bytes} B in ${linkMs.toFixed(1)} ms (at least ${floor.toFixed(1)})`);
    assert.ok(tr.bytes < SIZE + 100, `${tr.bytes} B: the payload and its MQTT header`);
    assert.ok(linkMs >= floor && linkMs < floor + SLACK, `transfer took ${linkMs.toFixed(1)} ms on the link, expected about ${floor.toFixed(1)}`);
    assert.ok(tr.startMs >= t && tr.endMs <= performance.now(), 'transfer times are in the performance.now() time base');
    const smallUp = emu.stats().transfers.up.filter((x) => x.bytes < 100 && x.bytes > 16);
    assert.ok(smallUp.length >= 5, `the small publishes are transfers too (${smallUp.length})`);
  } finally {
    await client.endAsync(true);
    await emu.close();
    await broker.close();
  }
});
