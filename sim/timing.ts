/**
 * Simulated links and boards (`simulate` with link/board profiles or churn): each round, every
 * selected client that is online trains; its simulated time (method/round-timing.ts: download of
 * the last global message, training at its board's speed, upload of its real wire bytes over its
 * link, a crash's restart) decides when its upload arrives, and the aggregator's rule
 * (method/round-policy.ts) decides when the round closes. Uploads after the close are late
 * (stale, not aggregated), as the aggregator refuses them (E_ROUND). A client still busy with a
 * late round starts the next one when it is done. Churn follows the plan as `fleet` applies it:
 * an offline client's last will starts the aggregator's offline grace when its stretch begins
 * (one offline from round 1 was never heard from), and a rejoining client is started as its
 * rejoin round opens, counted offline until it is back. Draws are seeded per (seed, round,
 * client), so a run and its resumed continuation see the same times.
 *
 * The profiles arrive here as plain numbers (SimTiming, resolved by cli/sim-timing.ts from the
 * named link and board profiles of emulation/), so that sim/ stays below emulation/.
 */
import { Rng } from '../common/rng.ts';
import { quantile } from '../common/stats.ts';
import { fail, int, num } from '../common/validate.ts';
import { crashesInRound, isOffline, type AgentPlan } from '../method/fleet-plan.ts';
import { participantsPerRound } from '../method/selection.ts';
import { clientRoundTimes, closeRound, type LinkTiming, type RoundEntrant } from '../method/round-timing.ts';
import type { RoundRecord, RoundTiming } from './records.ts';

/**
 * What a restart costs, by default (a crash mid-upload, besides the lost half upload; a rejoin
 * after an offline stretch): starting the agent process again (tsx costs 1.6-2.8 s per process
 * start here, /work/shared/ENVIRONMENT.md), reopening its SQLite store and reconnecting to the
 * broker; engineering approximation, 3 s (the fleet also waits 1.5 s before restarting a crashed
 * agent, which this leaves out).
 */
export const DEFAULT_RESTART_MS = 3_000;

/** One client's profile, as numbers (from its AgentPlan: group, link, board, churn). */
export interface SimClientTiming extends Pick<AgentPlan, 'group' | 'offline' | 'crashUpload'> {
  /** Link spec name, for display (null = direct). */
  readonly linkName: string | null;
  readonly link: LinkTiming | null;
  /** Board name, for display (null = none). */
  readonly board: string | null;
  /** The board's ResNet-8 training speed, images/s (emulation/boards.ts); null = training time not modelled. */
  readonly boardImagesPerSec: number | null;
}

export interface SimTiming {
  /** One per client, index = client. */
  readonly clients: readonly SimClientTiming[];
  /** The aggregator's round settings (round.deadline-ms, min-uploads, close-at; aggregator/config.ts). */
  readonly deadlineMs: number;
  readonly minUploads: number;
  readonly closeAt: number | null;
  readonly maxExtensions: number;
  /** How long the aggregator waits for a selected agent that went offline. */
  readonly offlineGraceMs: number;
  /** What a crash mid-upload costs besides the lost half upload: restart, store, reconnect. */
  readonly restartMs: number;
}

export interface TimingSummary {
  readonly totalSeconds: number;
  readonly p50: number;
  readonly p95: number;
  readonly lateUploads: number;
  /** Clients that were late at least once, most often first. */
  readonly stragglers: readonly { client: number; rounds: number }[];
  readonly offlineClientRounds: number;
}

/** Checks a SimTiming against the run (E_CONFIG naming the field); returns it frozen. */
export function checkTiming(t: SimTiming, clients: number, participation: number): SimTiming {
  if (!Array.isArray(t.clients) || t.clients.length !== clients) fail('timing.clients', `needs one profile per client (${clients})`, t.clients?.length);
  for (const [i, c] of t.clients.entries()) {
    if (c.boardImagesPerSec !== null) num(`timing.clients[${i}].boardImagesPerSec`, c.boardImagesPerSec, 0, 1e9, { openMin: true });
    if (c.link !== null && !(c.link.segmentBytes > 0)) fail(`timing.clients[${i}].link.segmentBytes`, 'must be > 0', c.link.segmentBytes);
  }
  int('deadlineMs', t.deadlineMs, 100);
  const k = participantsPerRound(clients, participation);
  // the aggregator's clamp and check (aggregator/config.ts)
  const minUploads = Math.min(int('minUploads', t.minUploads, 1), k);
  if (t.closeAt !== null) int('closeAt', t.closeAt, minUploads, k);
  int('maxExtensions', t.maxExtensions, 0, 1000);
  int('offlineGraceMs', t.offlineGraceMs, 0, 86_400_000);
  num('restartMs', t.restartMs, 0, 86_400_000);
  return Object.freeze({ ...t, minUploads, clients: Object.freeze([...t.clients]) });
}

/** What one trained client sent this round. */
export interface TrainedClient {
  readonly client: number;
  readonly trainImages: number;
  readonly uploadBytes: number;
  /** Relative training cost of its backbone per image (ResNet-8 = 1). */
  readonly familyCost: number;
}

/** The simulated clock of a run: round openings, and when each client is free again. */
export class SimulatedRounds {
  private clock = 0;
  private readonly busyUntil: number[];
  private readonly openedAt = new Map<number, number>();

  constructor(
    private readonly timing: SimTiming,
    private readonly seed: number,
    done: readonly RoundRecord[] = [],
  ) {
    this.busyUntil = timing.clients.map(() => 0);
    // a resumed run continues the clock from its records
    for (const r of done) {
      if (!r.timing) continue;
      this.openedAt.set(r.round, r.timing.openedAt);
      this.clock = r.timing.openedAt + r.timing.seconds;
      for (const c of r.timing.clients) this.busyUntil[c.client] = Math.max(this.busyUntil[c.client] ?? 0, r.timing.openedAt + c.arrives);
    }
  }

  /** The first round of the offline stretch that holds `round`. */
  private stretchStart(p: SimClientTiming, round: number): number {
    let from = round;
    while (from > 1 && isOffline(p, from - 1)) from--;
    return from;
  }

  /** Clients offline in `round` (their plan), sorted. */
  offlineIn(round: number): number[] {
    return this.timing.clients.flatMap((c, i) => (isOffline(c, round) ? [i] : []));
  }

  /**
   * Plays round `round`: `selected` clients (sorted), `trained` the online ones among them, with
   * what they sent; `downloadBytes` the global message each received before training.
   */
  play(round: number, selected: readonly number[], trained: readonly TrainedClient[], downloadBytes: number): RoundTiming {
    const t = this.timing;
    const opened = this.clock;
    this.openedAt.set(round, opened);
    const offline = this.offlineIn(round);
    const byClient = new Map(trained.map((x) => [x.client, x]));
    const clients: RoundTiming['clients'][number][] = [];
    const entrants: RoundEntrant[] = selected.map((client) => {
      const p = t.clients[client]!;
      const x = byClient.get(client);
      // gone for the aggregator once its grace has passed since its offline stretch began (its
      // last will then); an agent offline from round 1 never connected: it is waited for
      const goneAt = (last: number): number | undefined => {
        const from = this.stretchStart(p, last);
        return from === 1 ? undefined : (this.openedAt.get(from) ?? opened) + t.offlineGraceMs / 1000 - opened;
      };
      if (x === undefined) {
        const g = goneAt(round);
        return g === undefined ? { client } : { client, goneAt: g };
      }
      // back from an offline stretch: its process is started when this round opens
      const rejoin = round > 1 && isOffline(p, round - 1);
      const back = rejoin ? t.restartMs / 1000 : 0;
      const gone = rejoin ? goneAt(round - 1) : undefined;
      const rng = Rng.derive(this.seed, `sim-timing/${round}/${client}`);
      // a client still busy with a late round starts this one when it is done
      const start = Math.max(back, (this.busyUntil[client] ?? 0) - opened);
      const times = clientRoundTimes(
        {
          link: p.link,
          imagesPerSec: p.boardImagesPerSec === null ? null : p.boardImagesPerSec / x.familyCost,
          downloadBytes,
          trainImages: x.trainImages,
          uploadBytes: x.uploadBytes,
          crash: crashesInRound(p, round),
          restartSeconds: t.restartMs / 1000,
          startSeconds: opened + start,
        },
        rng,
      );
      const arrives = start + times.total;
      this.busyUntil[client] = opened + arrives;
      clients.push({ client, start, download: times.download, train: times.train, restart: times.restart, upload: times.upload, arrives });
      return gone === undefined ? { client, arrives } : { client, arrives, goneAt: gone, backAt: back };
    });
    const closed = closeRound(entrants, { deadlineSeconds: t.deadlineMs / 1000, minUploads: t.minUploads, closeAt: t.closeAt, maxExtensions: t.maxExtensions });
    this.clock = opened + closed.seconds;
    return { openedAt: opened, seconds: closed.seconds, outcome: closed.outcome, reason: closed.reason, uploaded: closed.uploaded, late: closed.late, offline, clients };
  }
}

/** Round-time distribution, stragglers and churn over a run's records (null when none has timing). */
export function timingSummary(rounds: readonly RoundRecord[]): TimingSummary | null {
  const timed = rounds.flatMap((r) => (r.timing ? [r.timing] : []));
  if (timed.length === 0) return null;
  const s = timed.map((t) => t.seconds).sort((a, b) => a - b);
  const late = new Map<number, number>();
  for (const t of timed) for (const c of t.late) late.set(c, (late.get(c) ?? 0) + 1);
  return {
    totalSeconds: timed.reduce((a, t) => a + t.seconds, 0),
    p50: quantile(s, 0.5),
    p95: quantile(s, 0.95),
    lateUploads: timed.reduce((a, t) => a + t.late.length, 0),
    stragglers: [...late].map(([client, n]) => ({ client, rounds: n })).sort((a, b) => b.rounds - a.rounds || a.client - b.client),
    offlineClientRounds: timed.reduce((a, t) => a + t.offline.length, 0),
  };
}
