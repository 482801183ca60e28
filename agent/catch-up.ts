/**
 * Anti-entropy for an agent that may have missed an aggregator message (a broker that dropped it
 * from a full queue, a retained message lost with a broker restart): when nothing has arrived
 * from the aggregator for `afterMs`, the agent asks the broker for the retained masks, round and
 * global prototypes again; then again after twice as long, up to `maxMs`. Anything heard from
 * the aggregator starts the wait anew. What arrives again is handled as any repeat (ignored
 * when already known), so a catch-up is harmless.
 */
import { errorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export class CatchUp {
  private timer: NodeJS.Timeout | null = null;
  private delay: number;
  private stopped = false;

  constructor(
    private readonly afterMs: number,
    private readonly maxMs: number,
    private readonly refresh: (() => Promise<void>) | undefined,
    private readonly logger: Logger,
  ) {
    this.delay = afterMs;
  }

  /** Something arrived from the aggregator: wait the base interval again. */
  heard(): void {
    this.delay = this.afterMs;
    this.arm();
  }

  arm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.stopped || this.refresh === undefined || !(this.afterMs > 0)) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.logger.info('nothing from the aggregator for a while: asking the broker for its retained messages again', { afterMs: this.delay });
      this.refresh!().catch((e: unknown) => this.logger.debug('catch-up not possible now', { code: errorCode(e), error: (e as Error).message }));
      this.delay = Math.min(this.maxMs, this.delay * 2);
      this.arm();
    }, this.delay);
    this.timer.unref?.();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
