/**
 * One direction of an emulated link: bytes read from `src` are cut into TCP-sized segments,
 * each given a delivery time (token-bucket departure + one-way latency + jitter, + a stall when
 * the segment is "lost", pushed past any outage), kept in order, and written to `dst` when due.
 * The queue is bounded: above HIGH_WATER bytes the source socket is paused, so a fast sender
 * sees the link's rate as TCP back-pressure, as it would behind a real bottleneck.
 */
import type { Socket } from 'node:net';
import { TokenBucket } from './token-bucket.ts';
import { activeEvent, SEGMENT_BYTES, type DirectionSpec, type LinkEvent } from './link-profiles.ts';

const HIGH_WATER = 256 * 1024;
const LOW_WATER = 64 * 1024;

export interface DirectionStats {
  bytes: number;
  segments: number;
  stalls: number;
}

/**
 * One transfer through a direction: bytes that arrived while the direction was idle (nothing
 * queued) and everything that arrived behind them before the queue drained, e.g. one MQTT
 * PUBLISH. Times are ms on the direction's clock: when its first byte arrived and when its last
 * byte was (or is to be) delivered, so endMs - startMs is the time the link took for it.
 */
export interface Transfer {
  readonly startMs: number;
  endMs: number;
  bytes: number;
}

/** Transfers kept per direction (the oldest are dropped beyond it). */
export const MAX_TRANSFERS = 4096;

export interface DirectionContext {
  /** ms since the emulator started (monotonic). */
  readonly now: () => number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  readonly stallProbability: number;
  readonly stallMs: number;
  readonly schedule: readonly LinkEvent[];
}

/** Bucket depth: 10 ms at the link rate, at least 4 segments (tbf needs burst >= rate / HZ). */
export function burstBytes(rateKbit: number): number {
  return Math.max(4 * SEGMENT_BYTES, (rateKbit * 1000) / 8 / 100);
}

export class LinkDirection {
  readonly stats: DirectionStats = { bytes: 0, segments: 0, stalls: 0 };
  /** The last MAX_TRANSFERS transfers, oldest first. */
  readonly transfers: Transfer[] = [];
  private readonly queue: { buf: Buffer; at: number }[] = [];
  private queued = 0;
  private lastDelivery = 0;
  private timer: NodeJS.Timeout | null = null;
  private ended = false;
  private closed = false;
  private readonly bucket: TokenBucket | null;

  constructor(
    private readonly spec: DirectionSpec,
    private readonly ctx: DirectionContext,
    private readonly src: Socket,
    private readonly dst: Socket,
  ) {
    this.bucket = spec.rateKbit > 0 ? new TokenBucket((spec.rateKbit * 1000) / 8, burstBytes(spec.rateKbit), ctx.now()) : null;
    src.on('data', (chunk: Buffer) => this.push(chunk));
    src.on('end', () => {
      this.ended = true;
      this.flush();
    });
  }

  /** Delivery time of a segment of `len` bytes arriving now. */
  private schedule(len: number): number {
    const { now, random, schedule } = this.ctx;
    let t = now();
    t = activeEvent(schedule, 'outage', t) ?? t;
    if (this.bucket) t = this.bucket.depart(t, len);
    t += this.spec.latencyMs + (this.spec.jitterMs > 0 ? random() * this.spec.jitterMs : 0);
    if (this.ctx.stallProbability > 0 && random() < this.ctx.stallProbability) {
      t += this.ctx.stallMs;
      this.stats.stalls++;
    }
    t = activeEvent(schedule, 'outage', t) ?? t;
    // TCP delivers in order: a late segment holds back the ones behind it
    t = Math.max(t, this.lastDelivery);
    this.lastDelivery = t;
    return t;
  }

  private push(chunk: Buffer): void {
    if (this.closed) return;
    if (this.queue.length === 0) {
      this.transfers.push({ startMs: this.ctx.now(), endMs: this.ctx.now(), bytes: 0 });
      if (this.transfers.length > MAX_TRANSFERS) this.transfers.shift();
    }
    const transfer = this.transfers[this.transfers.length - 1]!;
    for (let o = 0; o < chunk.length; o += SEGMENT_BYTES) {
      const buf = chunk.subarray(o, Math.min(chunk.length, o + SEGMENT_BYTES));
      const at = this.schedule(buf.length);
      this.queue.push({ buf, at });
      this.queued += buf.length;
      this.stats.segments++;
      transfer.endMs = at;
      transfer.bytes += buf.length;
    }
    if (this.queued > HIGH_WATER) this.src.pause();
    this.flush();
  }

  private flush(): void {
    if (this.closed) return;
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const now = this.ctx.now();
    const due: Buffer[] = [];
    while (this.queue.length > 0 && this.queue[0]!.at <= now) {
      const s = this.queue.shift()!;
      due.push(s.buf);
      this.queued -= s.buf.length;
      this.stats.bytes += s.buf.length;
    }
    if (due.length > 0 && !this.dst.destroyed) this.dst.write(due.length === 1 ? due[0]! : Buffer.concat(due));
    if (this.queued < LOW_WATER && this.src.isPaused()) this.src.resume();
    const head = this.queue[0];
    if (head) this.timer = setTimeout(() => this.flush(), Math.max(0, head.at - now));
    else if (this.ended && !this.dst.destroyed) this.dst.end();
  }

  /** Drop what is queued (the connection was reset). */
  close(): void {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
    this.queued = 0;
  }
}
