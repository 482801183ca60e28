/** The load benchmark's process helpers: /proc sampling of a child (CPU seconds, peak RSS), its output lines, its exit; the row type. */
import { readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process in seconds; null when it is gone. */
export function cpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  } catch {
    return null;
  }
}

/** VmHWM (peak resident set) in bytes; null when the process is gone. */
export function peakRss(pid: number): number | null {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Samples a process every `ms` until stop(): last CPU seconds seen and the largest peak RSS. */
export function sampler(pid: number, ms = 200): { stop(): { cpu: number; rss: number } } {
  let cpu = 0;
  let rss = 0;
  const take = (): void => {
    const c = cpuSeconds(pid);
    const r = peakRss(pid);
    if (c !== null) cpu = c;
    if (r !== null) rss = Math.max(rss, r);
  };
  take();
  const timer = setInterval(take, ms);
  return {
    stop() {
      take();
      clearInterval(timer);
      return { cpu, rss };
    },
  };
}

/** One networked run of bench:load (a table row). */
export interface NetRow {
  broker: string;
  n: number;
  rounds: number;
  connectS: number;
  roundS: number[];
  uploadsPerS: number;
  aggCpuS: number;
  aggPeakMb: number;
  brokerCpuS: number | null;
  stored: number;
  lost: number;
  missedGlobal: number;
  sends: number;
  ok: boolean;
  note: string;
}

export function lines(child: ChildProcess, onLine: (l: string) => void): void {
  if (child.stdout) createInterface({ input: child.stdout }).on('line', onLine);
}

export function exited(child: ChildProcess, ms: number): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => {
      child.kill('SIGKILL');
      resolve(null);
    }, ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}

