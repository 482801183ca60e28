/**
 * A token bucket in virtual time: `depart(at, bytes)` returns when `bytes` may leave a link of
 * `rateBytesPerSec` with a bucket of `burstBytes`, given that every earlier call's bytes left
 * first (FIFO). The same discipline as the kernel's `tbf` qdisc (rate + burst), with no queue
 * limit here: the caller bounds its queue (emulation/link-direction.ts pauses the sender).
 */
import { TinyProtoError } from '../common/errors.ts';

export class TokenBucket {
  private tokens: number;
  private last: number;
  private free = -Infinity;

  constructor(
    private readonly rateBytesPerSec: number,
    private readonly burstBytes: number,
    startMs = 0,
  ) {
    if (!(rateBytesPerSec > 0) || !Number.isFinite(rateBytesPerSec)) throw new TinyProtoError('E_ARGUMENT', `token bucket rate must be > 0 B/s, got ${rateBytesPerSec}`);
    if (!(burstBytes > 0) || !Number.isFinite(burstBytes)) throw new TinyProtoError('E_ARGUMENT', `token bucket burst must be > 0 B, got ${burstBytes}`);
    this.tokens = burstBytes;
    this.last = startMs;
  }

  /** Departure time (ms) of `bytes` arriving at `atMs`. */
  depart(atMs: number, bytes: number): number {
    const t = Math.max(atMs, this.free, this.last);
    this.tokens = Math.min(this.burstBytes, this.tokens + ((t - this.last) * this.rateBytesPerSec) / 1000);
    this.last = t;
    if (this.tokens >= bytes) {
      this.tokens -= bytes;
      this.free = t;
      return t;
    }
    const wait = ((bytes - this.tokens) * 1000) / this.rateBytesPerSec;
    this.tokens = 0;
    this.last = t + wait;
    this.free = this.last;
    return this.last;
  }
}
