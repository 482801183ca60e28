/**
 * Runs async tasks one at a time, in the order they were queued: the agent and the aggregator
 * handle every message and timer through one, so their state never sees interleaved handlers.
 * A failing task is reported to `onError` and does not stop the ones after it.
 */
export class SerialQueue {
  private tail: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(private readonly onError: (e: unknown) => void) {}

  /** Queues a task; resolves when it has run (or was skipped because the queue is closed). */
  push(task: () => void | Promise<void>): Promise<void> {
    const run = this.tail.then(async () => {
      if (this.closed) return;
      try {
        await task();
      } catch (e) {
        this.onError(e);
      }
    });
    this.tail = run;
    return run;
  }

  /** Resolves when everything queued so far has run. */
  idle(): Promise<void> {
    return this.tail;
  }

  /** Tasks queued from now on are skipped; resolves when the task in hand has finished. */
  close(): Promise<void> {
    this.closed = true;
    return this.tail;
  }
}
