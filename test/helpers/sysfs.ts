/** Test-only helpers for board/: fixture roots, an overlay fs, a hand-driven clock. */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { type SysFs, nodeSysFs } from '../../board/sysfs.ts';
import type { Clock, Ticker } from '../../board/sampling.ts';

export const FIXTURES = fileURLToPath(new URL('../fixtures/sysfs', import.meta.url));
export const fixture = (name: string): string => join(FIXTURES, name);

export function errno(code: string, path: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: simulated, open '${path}'`);
  e.code = code;
  return e;
}

export type OverlayValue = string | NodeJS.ErrnoException;

/**
 * Real reads under `root`, except paths (given as absolute system paths, e.g.
 * '/sys/class/powercap/intel-rapl:0/energy_uj') that are overridden with a value or an error.
 */
export function overlayFs(root: string, initial: Record<string, OverlayValue> = {}): SysFs & {
  set(path: string, value: OverlayValue): void;
  reads: string[];
} {
  const map = new Map<string, OverlayValue>();
  const set = (p: string, v: OverlayValue): void => {
    map.set(join(root, p), v);
  };
  for (const [p, v] of Object.entries(initial)) set(p, v);
  const reads: string[] = [];
  return {
    set,
    reads,
    readFile: (path: string) => {
      reads.push(path);
      const v = map.get(path);
      if (v === undefined) return nodeSysFs.readFile(path);
      if (typeof v === 'string') return v;
      throw v;
    },
    readdir: (path: string) => nodeSysFs.readdir(path),
  };
}

/** A clock and ticker driven by the test: advance(ms) moves time and fires due ticks. */
export function manualTime(startMs = 1000): {
  clock: Clock;
  ticker: Ticker;
  advance(ms: number): void;
  readonly active: number;
} {
  let now = startMs;
  let nextId = 0;
  const timers = new Map<number, { period: number; next: number; fn: () => void }>();
  return {
    clock: { now: () => now },
    ticker: (period, fn) => {
      const id = nextId++;
      timers.set(id, { period, next: now + period, fn });
      return () => {
        timers.delete(id);
      };
    },
    advance(ms: number) {
      const target = now + ms;
      for (;;) {
        let due: { period: number; next: number; fn: () => void } | undefined;
        for (const t of timers.values()) if (t.next <= target && (!due || t.next < due.next)) due = t;
        if (!due) break;
        now = due.next;
        due.next += due.period;
        due.fn();
      }
      now = target;
    },
    get active() {
      return timers.size;
    },
  };
}
