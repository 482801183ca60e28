/**
 * Link profiles: what a board's network does to the bytes of one TCP connection, per direction
 * (up = agent to broker, down = broker to agent). Loss is modelled as TCP sees it: a lost
 * segment is retransmitted after a retransmission timeout, so the byte stream is never lossy,
 * it stalls (the segment and everything behind it wait `stallMs`, head-of-line). Outages hold
 * the stream for their duration (TCP retransmits once the link is back); disconnects reset every
 * connection and refuse new ones for their duration (association lost, DHCP renewed, NAT reset).
 *
 * Every number carries its source in `source`: they are typical figures, "approximate" where
 * rounded from published ranges, and should be replaced by a measurement of the real site.
 */
import { TinyProtoError } from '../common/errors.ts';

export interface DirectionSpec {
  /** One-way delay added to every byte, ms. */
  readonly latencyMs: number;
  /** Extra delay, uniform in [0, jitterMs], ms; the byte stream keeps its order (as TCP delivers it). */
  readonly jitterMs: number;
  /** Bottleneck rate, kbit/s (1000 bit/s); 0 = unlimited. */
  readonly rateKbit: number;
}

export interface LinkEvent {
  readonly kind: 'outage' | 'disconnect';
  /** Start, ms after the emulator started. */
  readonly atMs: number;
  readonly forMs: number;
  /** Repeat every this many ms after atMs (0 = once). */
  readonly everyMs: number;
}

export interface LinkProfile {
  readonly name: string;
  readonly label: string;
  readonly up: DirectionSpec;
  readonly down: DirectionSpec;
  /** Probability that a TCP segment (SEGMENT_BYTES) is lost once and stalls the stream. */
  readonly stallProbability: number;
  /** How long a lost segment stalls the stream: an RTO (Linux TCP_RTO_MIN is 200 ms) plus a round trip. */
  readonly stallMs: number;
  readonly schedule: readonly LinkEvent[];
  readonly source: string;
}

/** The unit a stall is drawn for: one Ethernet-MTU TCP segment's payload. */
export const SEGMENT_BYTES = 1448;

const dir = (latencyMs: number, jitterMs: number, rateKbit: number): DirectionSpec => Object.freeze({ latencyMs, jitterMs, rateKbit });

export const LINK_PROFILES = Object.freeze({
  none: Object.freeze({
    name: 'none',
    label: 'no emulation (loopback as is)',
    up: dir(0, 0, 0),
    down: dir(0, 0, 0),
    stallProbability: 0,
    stallMs: 0,
    schedule: [],
    source: 'no shaping: the proxy forwards bytes as they come',
  }),
  'wifi-good': Object.freeze({
    name: 'wifi-good',
    label: 'good 802.11n (1x1, 20 MHz, near the access point)',
    up: dir(2, 1, 30_000),
    down: dir(2, 1, 30_000),
    stallProbability: 1e-4,
    stallMs: 205,
    schedule: [],
    source:
      'approximate: the Pi Zero 2 W, Pi 4 and Pi 5 radios are 1x1; 802.11n MCS7 at 20 MHz is 72.2 Mb/s PHY (IEEE 802.11n-2009 MCS table, short GI) and TCP goodput over 802.11n is commonly 50-65% of the PHY rate, so ~40 Mb/s; 30 Mbit/s each way taken. Idle-WLAN ping 1-5 ms (2 ms one way + 1 ms jitter taken). Residual loss after 802.11 MAC retries ~1e-4 per segment, each costing Linux TCP_RTO_MIN (200 ms) + RTT',
  }),
  'wifi-congested': Object.freeze({
    name: 'wifi-congested',
    label: 'congested 2.4 GHz (many networks on one channel)',
    up: dir(20, 15, 4_000),
    down: dir(20, 15, 6_000),
    stallProbability: 5e-3,
    stallMs: 250,
    schedule: [],
    source:
      'approximate: on a 2.4 GHz channel shared by many BSSs (apartment block, office), contention and airtime sharing leave a 1x1 client 2-8 Mbit/s of TCP goodput and 20-100 ms RTT under load with queueing (bufferbloat); 4 Mbit/s up, 6 down, 20 ms one way + 0-15 ms jitter taken; 0.5% segment loss after MAC retries, each an RTO of 200 ms (Linux TCP_RTO_MIN) + RTT',
  }),
  'wifi-weak': Object.freeze({
    name: 'wifi-weak',
    label: 'weak link at the edge of range (RSSI ~ -80 dBm)',
    up: dir(30, 25, 1_500),
    down: dir(30, 25, 2_500),
    stallProbability: 0.02,
    stallMs: 400,
    schedule: [Object.freeze({ kind: 'outage', atMs: 45_000, forMs: 4_000, everyMs: 90_000 })],
    source:
      'approximate: near the edge of range rate adaptation falls to 802.11n MCS0-1 (6.5-13 Mb/s PHY) with many retries, leaving 1-3 Mbit/s of TCP goodput; 1.5 Mbit/s up, 2.5 down, 30 ms one way + 0-25 ms jitter; 2% segment loss with backed-off RTOs (400 ms); engineering approximation: a 4 s outage (beacon loss / roaming attempt) every 90 s, first at 45 s',
  }),
  lte: Object.freeze({
    name: 'lte',
    label: 'LTE (4G) modem, fair coverage',
    up: dir(25, 10, 8_000),
    down: dir(25, 10, 25_000),
    stallProbability: 1e-3,
    stallMs: 300,
    schedule: [],
    source:
      'approximate: crowd-sourced LTE measurements (OpenSignal, Ookla reports) put typical LTE latency at 30-60 ms RTT and speeds at ~5-15 Mbit/s up and 20-40 Mbit/s down; 25 ms one way + 0-10 ms jitter, 8 Mbit/s up, 25 down taken; HARQ/RLC retransmissions hide most radio loss, ~0.1% residual segment loss with a 300 ms RTO (the RTT is larger than on Wi-Fi)',
  }),
} satisfies Record<string, LinkProfile>);

export type LinkProfileName = keyof typeof LINK_PROFILES;
export const LINK_PROFILE_NAMES = Object.freeze(Object.keys(LINK_PROFILES) as LinkProfileName[]);

function bad(spec: string, why: string): never {
  throw new TinyProtoError('E_CONFIG', `invalid --link "${spec}": ${why}`, { field: 'link', value: spec });
}

/** '30ms', '2s', '500' (ms) -> ms. */
export function parseDuration(spec: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|min)?$/.exec(v.trim());
  if (!m) bad(spec, `"${v}" is not a duration (e.g. 40ms, 5s, 2min)`);
  const x = Number(m[1]);
  return m[2] === 's' ? x * 1000 : m[2] === 'min' ? x * 60_000 : x;
}

/** '2mbit', '512kbit', '800' (kbit/s) -> kbit/s. */
export function parseRate(spec: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(kbit|mbit|gbit)?$/i.exec(v.trim());
  if (!m) bad(spec, `"${v}" is not a rate (e.g. 512kbit, 4mbit; 0 = unlimited)`);
  const unit = (m[2] ?? 'kbit').toLowerCase();
  return Number(m[1]) * (unit === 'mbit' ? 1000 : unit === 'gbit' ? 1e6 : 1);
}

/** 'AT+FOR' or 'AT+FOR/EVERY', e.g. 30s+5s/60s. */
function parseEvent(spec: string, kind: LinkEvent['kind'], v: string): LinkEvent {
  const m = /^([^+/]+)\+([^+/]+)(?:\/([^+/]+))?$/.exec(v);
  if (!m) bad(spec, `${kind} must be AT+FOR or AT+FOR/EVERY (e.g. 30s+5s/60s), got "${v}"`);
  const everyMs = m[3] === undefined ? 0 : parseDuration(spec, m[3]);
  const forMs = parseDuration(spec, m[2]!);
  if (everyMs !== 0 && everyMs <= forMs) bad(spec, `${kind} must repeat less often than it lasts (${v})`);
  return Object.freeze({ kind, atMs: parseDuration(spec, m[1]!), forMs, everyMs });
}

const KEYS = ['latency', 'up-latency', 'down-latency', 'jitter', 'rate', 'up', 'down', 'stall', 'stall-ms', 'outage', 'disconnect'] as const;

/**
 * A named profile, optionally with custom values: `NAME[,key=value...]`, e.g.
 * `wifi-congested`, `wifi-good,latency=40ms,up=1mbit`, `none,stall=0.01,outage=30s+5s/60s`.
 * Keys: latency (one way, both directions), up-latency, down-latency, jitter, rate (both),
 * up, down (kbit/s or with kbit/mbit), stall (segment loss probability), stall-ms, outage and
 * disconnect (AT+FOR[/EVERY], added to the profile's schedule). Unknown keys are errors.
 */
export function resolveLinkProfile(spec: string): LinkProfile {
  const [name, ...pairs] = spec.split(',').map((s) => s.trim());
  if (!name || !(name in LINK_PROFILES)) bad(spec, `unknown profile "${name ?? ''}"; known: ${LINK_PROFILE_NAMES.join(', ')}`);
  const base: LinkProfile = LINK_PROFILES[name as LinkProfileName];
  if (pairs.length === 0) return base;
  let up = { ...base.up };
  let down = { ...base.down };
  let stallProbability = base.stallProbability;
  let stallMs = base.stallMs;
  const schedule = [...base.schedule];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    const key = eq < 0 ? pair : pair.slice(0, eq);
    const v = eq < 0 ? '' : pair.slice(eq + 1);
    if (!(KEYS as readonly string[]).includes(key)) bad(spec, `unknown key "${key}"; known: ${KEYS.join(', ')}`);
    if (v === '') bad(spec, `"${key}" needs a value`);
    switch (key as (typeof KEYS)[number]) {
      case 'latency': up = { ...up, latencyMs: parseDuration(spec, v) }; down = { ...down, latencyMs: parseDuration(spec, v) }; break;
      case 'up-latency': up = { ...up, latencyMs: parseDuration(spec, v) }; break;
      case 'down-latency': down = { ...down, latencyMs: parseDuration(spec, v) }; break;
      case 'jitter': up = { ...up, jitterMs: parseDuration(spec, v) }; down = { ...down, jitterMs: parseDuration(spec, v) }; break;
      case 'rate': up = { ...up, rateKbit: parseRate(spec, v) }; down = { ...down, rateKbit: parseRate(spec, v) }; break;
      case 'up': up = { ...up, rateKbit: parseRate(spec, v) }; break;
      case 'down': down = { ...down, rateKbit: parseRate(spec, v) }; break;
      case 'stall': {
        const p = Number(v);
        if (!Number.isFinite(p) || p < 0 || p >= 1) bad(spec, `stall must be a probability in [0, 1), got "${v}"`);
        stallProbability = p;
        break;
      }
      case 'stall-ms': stallMs = parseDuration(spec, v); break;
      case 'outage': schedule.push(parseEvent(spec, 'outage', v)); break;
      case 'disconnect': schedule.push(parseEvent(spec, 'disconnect', v)); break;
    }
  }
  return Object.freeze({
    name: spec,
    label: `${base.label}, customised`,
    up: Object.freeze(up),
    down: Object.freeze(down),
    stallProbability,
    stallMs,
    schedule: Object.freeze(schedule),
    source: `${base.source}; customised by the user: ${pairs.join(', ')}`,
  });
}

/** Is the link down (kind) at `tMs` after start? Returns the end of the event, or null. */
export function activeEvent(schedule: readonly LinkEvent[], kind: LinkEvent['kind'], tMs: number): number | null {
  let end: number | null = null;
  for (const e of schedule) {
    if (e.kind !== kind || tMs < e.atMs) continue;
    const k = e.everyMs > 0 ? Math.floor((tMs - e.atMs) / e.everyMs) : 0;
    const start = e.atMs + k * e.everyMs;
    if (tMs < start + e.forMs) end = Math.max(end ?? 0, start + e.forMs);
  }
  return end;
}
