import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TokenBucket } from './token-bucket.ts';
import { LINK_PROFILES, LINK_PROFILE_NAMES, activeEvent, parseRate, resolveLinkProfile } from './link-profiles.ts';
import { netemCommands } from './netem.ts';

test('token bucket: a burst leaves at once, then bytes leave at the rate, in order', () => {
  const b = new TokenBucket(1000, 200, 0);
  assert.equal(b.depart(0, 200), 0);
  assert.equal(b.depart(0, 100), 100);
  assert.equal(b.depart(0, 100), 200);
  // idle refills up to the burst only
  assert.equal(b.depart(10_000, 200), 10_000);
  assert.equal(b.depart(10_000, 50), 10_050);
  assert.throws(() => new TokenBucket(0, 10), /rate must be > 0/);
});

test('every named profile has a source, and custom values override it', () => {
  for (const n of LINK_PROFILE_NAMES) assert.ok(LINK_PROFILES[n].source.length > 20, n);
  const p = resolveLinkProfile('wifi-good,latency=40ms,up=1mbit,down=512kbit,stall=0.01,stall-ms=1s,outage=30s+5s/60s');
  assert.deepEqual([p.up.latencyMs, p.down.latencyMs, p.up.rateKbit, p.down.rateKbit, p.stallProbability, p.stallMs], [40, 40, 1000, 512, 0.01, 1000]);
  assert.equal(p.up.jitterMs, LINK_PROFILES['wifi-good'].up.jitterMs);
  assert.deepEqual(p.schedule, [{ kind: 'outage', atMs: 30_000, forMs: 5000, everyMs: 60_000 }]);
  assert.match(p.source, /customised by the user: latency=40ms/);
  assert.equal(resolveLinkProfile('lte'), LINK_PROFILES.lte);
  assert.equal(parseRate('x', '2.5mbit'), 2500);
});

test('bad link specs are E_CONFIG errors that name what is wrong', () => {
  assert.throws(() => resolveLinkProfile('wifi-bad'), (e: Error & { code?: string }) => e.code === 'E_CONFIG' && /unknown profile "wifi-bad"/.test(e.message));
  assert.throws(() => resolveLinkProfile('lte,latncy=3ms'), /unknown key "latncy"/);
  assert.throws(() => resolveLinkProfile('lte,up=fast'), /not a rate/);
  assert.throws(() => resolveLinkProfile('lte,stall=1.5'), /probability/);
  assert.throws(() => resolveLinkProfile('lte,outage=5s'), /AT\+FOR/);
  assert.throws(() => resolveLinkProfile('lte,outage=1s+5s/2s'), /repeat less often/);
});

test('scheduled events: once and periodic', () => {
  const s = resolveLinkProfile('none,outage=10s+2s/30s,disconnect=5s+1s').schedule;
  assert.equal(activeEvent(s, 'outage', 9_999), null);
  assert.equal(activeEvent(s, 'outage', 11_000), 12_000);
  assert.equal(activeEvent(s, 'outage', 41_500), 42_000);
  assert.equal(activeEvent(s, 'outage', 43_000), null);
  assert.equal(activeEvent(s, 'disconnect', 5_500), 6_000);
  assert.equal(activeEvent(s, 'disconnect', 35_500), null);
});

test('the tc netem + tbf equivalent of a profile', () => {
  const cmds = netemCommands(LINK_PROFILES['wifi-congested'], 'wlan0');
  const all = cmds.join('\n');
  assert.match(all, /tc qdisc add dev wlan0 root handle 1: netem delay 27\.5ms 7\.5ms loss 0\.5%/);
  assert.match(all, /tc qdisc add dev wlan0 parent 1: handle 2: tbf rate 4000kbit/);
  assert.match(all, /ifb0/);
  assert.match(all, /rate 6000kbit/);
});
