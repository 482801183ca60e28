/**
 * The arithmetic of `npm run bench:wifi`, pure: which of an agent's up transfers through its
 * link emulator carried each upload, how long the link took for it (measured) against what
 * bytes / rate + latency predicts (computed), and what the difference between two methods'
 * uploads is worth in seconds per round, next to the measured round-time difference.
 */
import { TinyProtoError } from '../common/errors.ts';
import { quantile } from '../report/bands.ts';
import { SEGMENT_BYTES, type DirectionSpec } from '../emulation/link-profiles.ts';
import type { Transfer } from '../emulation/link-direction.ts';

/** An upload as the aggregator accepted it: `atMs` when it was handed over (performance.now()). */
export interface UploadSeen {
  readonly round: number;
  readonly agent: string;
  /** Encoded message bytes (the aggregator's count). */
  readonly bytes: number;
  readonly atMs: number;
}

export interface UploadOnLink {
  readonly round: number;
  readonly agent: string;
  readonly messageBytes: number;
  /** Bytes of the transfer that carried it: the MQTT PUBLISH (header, topic, signed payload) and anything sent right behind it. */
  readonly linkBytes: number;
  /** First byte into the emulator to last byte out of it, s. */
  readonly linkSeconds: number;
}

/**
 * For each upload, the agent's up transfer that carried it: the last one that ended by the time
 * the aggregator had the upload and is at least as large as the encoded message (MQTT adds
 * its header, topic and signature, never removes bytes). Uploads without one are left out.
 */
export function matchUploads(transfers: ReadonlyMap<string, readonly Transfer[]>, uploads: readonly UploadSeen[]): UploadOnLink[] {
  const out: UploadOnLink[] = [];
  for (const u of uploads) {
    const list = transfers.get(u.agent) ?? [];
    let best: Transfer | null = null;
    for (const t of list) if (t.endMs <= u.atMs && t.bytes >= u.bytes && (best === null || t.endMs > best.endMs)) best = t;
    if (best !== null) out.push({ round: u.round, agent: u.agent, messageBytes: u.bytes, linkBytes: best.bytes, linkSeconds: (best.endMs - best.startMs) / 1000 });
  }
  return out;
}

/** What the link should take for `bytes`: one-way latency + bytes at the rate (rate 0 = unlimited), s. */
export function computedSeconds(bytes: number, spec: DirectionSpec): number {
  if (!(bytes >= 0) || !Number.isFinite(bytes)) throw new TinyProtoError('E_CONFIG', `bytes must be >= 0, got ${bytes}`);
  return spec.latencyMs / 1000 + (spec.rateKbit > 0 ? (bytes * 8) / (spec.rateKbit * 1000) : 0);
}

/**
 * Retransmission stalls an upload of `bytes` risks on a link that loses each 1448 B segment
 * with probability `p` (link-profiles.ts stallProbability), each stall costing `stallMs`:
 * its segments, the chance that at least one stalls, the mean stall time it adds, and the
 * chance that at least one of `uploads` such uploads in a round stalls.
 */
export function stallOdds(bytes: number, p: number, stallMs: number, uploads: number): { segments: number; anyStall: number; meanSeconds: number; anyInRound: number } {
  const segments = Math.max(1, Math.ceil(bytes / SEGMENT_BYTES));
  return {
    segments,
    anyStall: 1 - (1 - p) ** segments,
    meanSeconds: (segments * p * stallMs) / 1000,
    anyInRound: 1 - (1 - p) ** (segments * uploads),
  };
}

export interface Spread {
  readonly n: number;
  readonly mean: number;
  readonly p50: number;
  readonly p95: number;
}

/** n, mean, p50, p95 of `xs` (null when empty). */
export function spread(xs: readonly number[]): Spread | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return { n: s.length, mean: s.reduce((a, b) => a + b, 0) / s.length, p50: quantile(s, 0.5), p95: quantile(s, 0.95) };
}

export interface MethodUploads {
  readonly method: string;
  /** The uploads as they went through the links (matchUploads). */
  readonly uploads: readonly UploadOnLink[];
  /** Each upload's computed time on its agent's link (same order as uploads), s. */
  readonly computed: readonly number[];
  /** The closed rounds' times, s. */
  readonly roundSeconds: readonly number[];
}

export interface UploadWorth {
  readonly method: string;
  readonly messageBytes: Spread | null;
  readonly linkBytes: Spread | null;
  readonly measuredSeconds: Spread | null;
  readonly computedSeconds: Spread | null;
  /** Per round, the slowest upload's measured link time: what a round waiting for every upload pays, s. */
  readonly slowestPerRound: Spread | null;
  readonly roundSeconds: Spread | null;
}

export function uploadWorth(m: MethodUploads): UploadWorth {
  const rounds = [...new Set(m.uploads.map((u) => u.round))];
  const slowest = rounds.map((r) => Math.max(...m.uploads.filter((u) => u.round === r).map((u) => u.linkSeconds)));
  return {
    method: m.method,
    messageBytes: spread(m.uploads.map((u) => u.messageBytes)),
    linkBytes: spread(m.uploads.map((u) => u.linkBytes)),
    measuredSeconds: spread(m.uploads.map((u) => u.linkSeconds)),
    computedSeconds: spread(m.computed),
    slowestPerRound: spread(slowest),
    roundSeconds: spread(m.roundSeconds),
  };
}

export interface WorthComparison {
  /** Upload bytes on the link, larger over smaller method (median). */
  readonly bytesRatio: number | null;
  /** Median upload link time, larger-bytes method minus smaller, s (measured and computed). */
  readonly measuredSavingSeconds: number | null;
  readonly computedSavingSeconds: number | null;
  /** Median per-round slowest upload, larger minus smaller, s. */
  readonly slowestSavingSeconds: number | null;
  /** Median round time, larger minus smaller, s. */
  readonly roundDifferenceSeconds: number | null;
  /** slowestSaving (what a round pays) over the smaller-bytes method's median round time. */
  readonly savingShareOfRound: number | null;
}

/** `big` (the method with the larger uploads, e.g. FedProto) against `small` (e.g. TinyProto). */
export function compareWorth(big: UploadWorth, small: UploadWorth): WorthComparison {
  const diff = (a: Spread | null, b: Spread | null): number | null => (a && b ? a.p50 - b.p50 : null);
  const measured = diff(big.measuredSeconds, small.measuredSeconds);
  const slowest = diff(big.slowestPerRound, small.slowestPerRound);
  return {
    bytesRatio: big.linkBytes && small.linkBytes && small.linkBytes.p50 > 0 ? big.linkBytes.p50 / small.linkBytes.p50 : null,
    measuredSavingSeconds: measured,
    computedSavingSeconds: diff(big.computedSeconds, small.computedSeconds),
    slowestSavingSeconds: slowest,
    roundDifferenceSeconds: diff(big.roundSeconds, small.roundSeconds),
    savingShareOfRound: slowest !== null && small.roundSeconds && small.roundSeconds.p50 > 0 ? slowest / small.roundSeconds.p50 : null,
  };
}

/**
 * The target accuracy both runs reach: `fraction` of the lower of their best accuracies, rounded
 * down to a whole percent (null when a run has no accuracy).
 */
export function reachableTarget(bests: readonly (number | null)[], fraction = 0.9): number | null {
  if (bests.length === 0 || bests.some((b) => b === null)) return null;
  const low = Math.min(...(bests as number[]));
  return Math.floor(low * fraction * 100) / 100;
}
