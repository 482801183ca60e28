import { TinyProtoError } from './errors.ts';

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

/**
 * `p`, or an E_TIMEOUT rejection once `ms` have passed without it settling (its later rejection
 * is then ignored). For a wait that must end, e.g. an acknowledgement from an unreachable broker.
 * `ms` = Infinity: `p` itself.
 */
export function settleWithin<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  if (!Number.isFinite(ms)) return p;
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      p.catch(() => undefined);
      reject(new TinyProtoError('E_TIMEOUT', `${what}: no answer within ${ms} ms`, { ms }));
    }, ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}
