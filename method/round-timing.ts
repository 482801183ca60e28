/**
 * Simulated time of a federated round, pure and on plain numbers (rates, latencies, images/s):
 * how long each client takes to download the last global message, train, and upload over its
 * link, and when the round closes by the aggregator's own rule (method/round-policy.ts:
 * earlyClose / atDeadline), so that `simulate` drops the same stragglers a fleet would.
 *
 * The link is modelled as the userspace link emulator shapes one TCP stream
 * (emulation/link-emulator.ts): a message of B bytes takes latency + U(0, jitter) + 8B / rate,
 * and every TCP segment of it is lost once with the profile's stall probability, holding the
 * stream for stallMs (head-of-line). The profile's scheduled events, timed from the run's start
 * (the simulated clock), act on transfers as the emulator's do: an outage holds a transfer until
 * it ends, a disconnect drops it and it is sent again once the link is back. Training takes
 * images / imagesPerSec. A crash mid-upload loses half an upload, then the agent restarts
 * (restartSeconds) and sends the whole upload again.
 * Not modelled: TCP slow start, MQTT framing, reconnect back-off, the prototype pass, evaluation.
 * All draws come from the `Rng` given, so a seed fixes every simulated time.
 */
import type { Rng } from '../common/rng.ts';
import { atDeadline, earlyClose, type RoundOutcome } from './round-policy.ts';

/** One direction of a link (the same fields as emulation/link-profiles.ts DirectionSpec). */
export interface DirectionTiming {
  /** One-way delay, ms. */
  readonly latencyMs: number;
  /** Extra delay, uniform in [0, jitterMs], ms. */
  readonly jitterMs: number;
  /** Bottleneck rate, kbit/s (1000 bit/s); 0 = unlimited. */
  readonly rateKbit: number;
}

/** A scheduled link event (the fields of emulation/link-profiles.ts LinkEvent). */
export interface LinkEventTiming {
  readonly kind: 'outage' | 'disconnect';
  /** Start, ms after the run's start. */
  readonly atMs: number;
  readonly forMs: number;
  /** Repeats every this many ms after atMs (0 = once). */
  readonly everyMs: number;
}

export interface LinkTiming {
  /** Agent to broker. */
  readonly up: DirectionTiming;
  /** Broker to agent. */
  readonly down: DirectionTiming;
  /** Probability that one TCP segment is lost once and stalls the stream. */
  readonly stallProbability: number;
  readonly stallMs: number;
  /** Payload bytes of one TCP segment (the unit a stall is drawn for). */
  readonly segmentBytes: number;
  /** Outages and disconnects (empty = none). */
  readonly schedule: readonly LinkEventTiming[];
}

/** Bound on the schedule windows one transfer walks through (a disconnect that recurs faster than a transfer takes never lets it finish). */
const MAX_WINDOWS = 10_000;

/** The first window [start, end) of `e` that ends after `t` ms, or null. */
function windowAfter(e: LinkEventTiming, t: number): { start: number; end: number } | null {
  if (e.everyMs <= 0) return e.atMs + e.forMs > t ? { start: e.atMs, end: e.atMs + e.forMs } : null;
  const k = Math.max(0, Math.floor((t - e.atMs - e.forMs) / e.everyMs) + 1);
  const start = e.atMs + k * e.everyMs;
  return { start, end: start + e.forMs };
}

/**
 * When a transfer that needs `durMs` of link time, started at `t0Ms` (run clock), finishes: an
 * outage overlapping it holds it until the outage ends; a disconnect drops it and it starts over
 * when the link is back. Bounded by MAX_WINDOWS windows.
 */
export function scheduledFinishMs(t0Ms: number, durMs: number, schedule: readonly LinkEventTiming[]): number {
  let t = t0Ms;
  let remaining = durMs;
  for (let n = 0; n < MAX_WINDOWS; n++) {
    let next: { start: number; end: number; kind: LinkEventTiming['kind'] } | null = null;
    for (const e of schedule) {
      const w = windowAfter(e, t);
      if (w && w.start < t + remaining && (next === null || w.start < next.start)) next = { ...w, kind: e.kind };
    }
    if (next === null) return t + remaining;
    if (next.kind === 'outage') remaining -= Math.max(0, next.start - t);
    else remaining = durMs;
    t = next.end;
  }
  return t + remaining;
}

/** Seconds one message of `bytes` takes in one direction (0 bytes: nothing is sent, 0 s). */
export function transferSeconds(bytes: number, dir: DirectionTiming, link: Pick<LinkTiming, 'stallProbability' | 'stallMs' | 'segmentBytes'>, rng: Rng): number {
  if (!(bytes > 0)) return 0;
  let ms = dir.latencyMs + dir.jitterMs * rng.next();
  // kbit/s = bits per ms
  if (dir.rateKbit > 0) ms += (bytes * 8) / dir.rateKbit;
  if (link.stallProbability > 0) {
    const segments = Math.ceil(bytes / link.segmentBytes);
    for (let i = 0; i < segments; i++) if (rng.next() < link.stallProbability) ms += link.stallMs;
  }
  return ms / 1000;
}

export interface ClientRoundInput {
  /** null = a direct connection (no delay). */
  readonly link: LinkTiming | null;
  /** Training speed of this client's backbone on its board, images/s; null = not modelled (0 s). */
  readonly imagesPerSec: number | null;
  /** The global message the client receives before it trains (0 in the first round). */
  readonly downloadBytes: number;
  /** Images trained this round (training samples x local epochs). */
  readonly trainImages: number;
  readonly uploadBytes: number;
  /** The agent crashes mid-upload this round and is restarted. */
  readonly crash: boolean;
  /** How long a restart takes (process start, store, reconnect), s. */
  readonly restartSeconds: number;
  /** When the client starts the round on the run's clock, s (for the link's schedule; default 0). */
  readonly startSeconds?: number;
}

export interface ClientRoundTimes {
  readonly download: number;
  readonly train: number;
  /** A crash's cost: the half upload that was lost plus the restart (0 without a crash). */
  readonly restart: number;
  readonly upload: number;
  /** download + train + restart + upload, s. */
  readonly total: number;
}

/** One client's round, in seconds. Draws: download, then (crash) the lost upload, then the upload. */
export function clientRoundTimes(x: ClientRoundInput, rng: Rng): ClientRoundTimes {
  const link = x.link;
  let t = x.startSeconds ?? 0;
  // a transfer's time on the link, held or redone by the schedule's events
  const transfer = (bytes: number, dir: DirectionTiming): number => {
    const d = link ? transferSeconds(bytes, dir, link, rng) : 0;
    // the time the schedule adds (exactly 0 when no event overlaps the transfer)
    const held = link && d > 0 && link.schedule.length > 0 ? scheduledFinishMs(t * 1000, d * 1000, link.schedule) - (t * 1000 + d * 1000) : 0;
    const took = d + held / 1000;
    t += took;
    return took;
  };
  const download = link ? transfer(x.downloadBytes, link.down) : 0;
  const train = x.imagesPerSec !== null && x.imagesPerSec > 0 ? x.trainImages / x.imagesPerSec : 0;
  t += train;
  const restart = x.crash ? (link ? transferSeconds(x.uploadBytes, link.up, link, rng) / 2 : 0) + x.restartSeconds : 0;
  t += restart;
  const upload = link ? transfer(x.uploadBytes, link.up) : 0;
  return { download, train, restart, upload, total: download + train + restart + upload };
}

/** The aggregator's round settings (aggregator/config.ts), in seconds. */
export interface RoundRules {
  readonly deadlineSeconds: number;
  readonly minUploads: number;
  /** Over-selection: close at the first closeAt uploads (null = wait for every selected agent). */
  readonly closeAt: number | null;
  readonly maxExtensions: number;
}

/** A selected client, in s after the round opened. */
export interface RoundEntrant {
  readonly client: number;
  /** When its upload arrives (absent: offline all round, no upload). */
  readonly arrives?: number;
  /**
   * When the aggregator stops waiting for it: its last will plus the offline grace (<= 0: from
   * the start; absent or Infinity: never, e.g. an agent it has never heard from).
   */
  readonly goneAt?: number;
  /** When it is back online (a rejoining agent's status): from then on it is waited for again. */
  readonly backAt?: number;
}

type RoundEvent = { readonly t: number; readonly kind: 'upload' | 'back' | 'gone'; readonly client: number };
const EVENT_ORDER = { upload: 0, back: 1, gone: 2 } as const;

function eventsOf(e: RoundEntrant): RoundEvent[] {
  const out: RoundEvent[] = [];
  const gone = e.goneAt !== undefined && Number.isFinite(e.goneAt) && (e.backAt === undefined || e.goneAt < e.backAt);
  if (gone) out.push({ t: Math.max(0, e.goneAt!), kind: 'gone', client: e.client });
  if (gone && e.backAt !== undefined) out.push({ t: e.backAt, kind: 'back', client: e.client });
  if (e.arrives !== undefined) out.push({ t: e.arrives, kind: 'upload', client: e.client });
  return out;
}

export interface RoundClose {
  /** When the round closed, s after it opened. */
  readonly seconds: number;
  readonly outcome: RoundOutcome;
  readonly reason: string;
  readonly extensions: number;
  /** Clients whose upload arrived in time (aggregated), in arrival order. */
  readonly uploaded: readonly number[];
  /** Clients whose upload arrived after the close: stale (E_ROUND), not aggregated. */
  readonly late: readonly number[];
  /** Selected clients that were offline. */
  readonly offline: readonly number[];
}

/**
 * Plays a round's uploads and offline and online notices in time order through the aggregator's rule: after
 * each one the round may close early (earlyClose); when the deadline passes first, atDeadline
 * closes or extends it (at most maxExtensions times). An event at the deadline's instant counts
 * before it. Bounded: every step consumes an event or a deadline.
 */
export function closeRound(entrants: readonly RoundEntrant[], rules: RoundRules): RoundClose {
  const events = entrants.flatMap(eventsOf).sort((a, b) => a.t - b.t || EVENT_ORDER[a.kind] - EVENT_ORDER[b.kind] || a.client - b.client);
  const accepted: number[] = [];
  let gone = 0;
  let extensions = 0;
  let deadline = rules.deadlineSeconds;
  const progress = () => ({ selected: entrants.length, accepted: accepted.length, offline: gone, minUploads: rules.minUploads, closeAt: rules.closeAt, extensions, maxExtensions: rules.maxExtensions });
  const close = (seconds: number, outcome: RoundOutcome, reason: string): RoundClose => {
    const inTime = new Set(accepted);
    return {
      seconds,
      outcome,
      reason,
      extensions,
      uploaded: [...accepted],
      late: events.filter((e) => e.kind === 'upload' && !inTime.has(e.client)).map((e) => e.client),
      offline: entrants.filter((e) => e.arrives === undefined).map((e) => e.client).sort((a, b) => a - b),
    };
  };
  let i = 0;
  for (;;) {
    const next = events[i];
    if (next === undefined || next.t > deadline) {
      const d = atDeadline(progress());
      if (d.action === 'close') return close(deadline, d.outcome, d.reason);
      extensions++;
      deadline += rules.deadlineSeconds;
      continue;
    }
    i++;
    if (next.kind === 'upload') accepted.push(next.client);
    else gone += next.kind === 'gone' ? 1 : -1;
    const e = earlyClose(progress());
    if (e) return close(next.t, e.outcome, e.reason);
  }
}
