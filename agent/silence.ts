/**
 * An agent on an experiment that no aggregator runs on its broker would otherwise wait in
 * silence: after `afterMs` without any message from the aggregator it says so (a log line and a
 * callback), then again after ten times as long, and so on, until the aggregator is heard.
 */
import type { Logger } from '../common/logger.ts';

export class SilenceWatch {
  private heard = false;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly what: { experiment: string; broker: string },
    private readonly logger: Logger,
    private readonly onSilent: (waitedMs: number) => void,
  ) {}

  /** Starts watching (0 = never warn). */
  start(afterMs: number): void {
    if (!(afterMs > 0)) return;
    let waited = 0;
    const check = (delay: number): void => {
      this.timer = setTimeout(() => {
        waited += delay;
        if (this.heard) return;
        this.logger.warn('no aggregator has announced this experiment on the broker yet: check the experiment id and that the aggregator runs', {
          ...this.what,
          waitedSeconds: Math.round(waited / 1000),
        });
        this.onSilent(waited);
        check(delay * 10);
      }, delay);
      this.timer.unref?.();
    };
    check(afterMs);
  }

  /** The aggregator was heard: no more warnings. */
  heardFrom(): void {
    this.heard = true;
    this.stop();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
