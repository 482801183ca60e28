/** Host checks for `tinyproto doctor`: free memory, free disk where the store lives, clock sanity. */
import { existsSync, statfsSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { ok, problem, warn, type CheckResult } from './check.ts';

export const HOST_CHECK_DEFAULTS = Object.freeze({
  /** An agent training ResNet-8 on a full shard peaks near 200-320 MB RSS (README). */
  minFreeMemoryMB: 256,
  minFreeDiskMB: 200,
  /** The clock is wrong when it is before this date (no board runs tinyproto before its release). */
  earliestPlausible: '2026-01-01T00:00:00Z',
});

const MB = 1024 * 1024;

/** Available memory: MemAvailable from /proc/meminfo when given, else os.freemem(). */
export function memoryCheck(availableBytes: number = freemem(), totalBytes: number = totalmem(), minMB: number = HOST_CHECK_DEFAULTS.minFreeMemoryMB): CheckResult {
  const line = `${(availableBytes / MB).toFixed(0)} MB available of ${(totalBytes / MB).toFixed(0)} MB`;
  return availableBytes / MB < minMB ? problem('memory', `${line}; an agent needs about ${minMB} MB (stop other services or add swap)`) : ok('memory', line);
}

/** Free space on the file system holding `path` (or its nearest existing parent). */
export function diskCheck(path: string, minMB: number = HOST_CHECK_DEFAULTS.minFreeDiskMB, statfs: (p: string) => { bavail: number; bsize: number; blocks: number } = statfsSync): CheckResult {
  let dir = resolve(path);
  for (let i = 0; i < 64 && !existsSync(dir); i++) dir = dirname(dir);
  const s = statfs(dir);
  const free = (s.bavail * s.bsize) / MB;
  const total = (s.blocks * s.bsize) / MB;
  const line = `${free.toFixed(0)} MB free of ${total.toFixed(0)} MB at ${dir}`;
  return free < minMB ? problem('disk', `${line}; need at least ${minMB} MB`) : ok('disk', line);
}

/**
 * The wall clock: before `earliest` (a board without an RTC that has not synchronised yet) is a
 * problem; a clock not reported synchronised by systemd-timesyncd or chrony is a warning.
 */
export function clockCheck(now: Date = new Date(), earliest: string = HOST_CHECK_DEFAULTS.earliestPlausible, syncedMarker: (p: string) => boolean = existsSync): CheckResult {
  const iso = now.toISOString();
  if (now.getTime() < Date.parse(earliest)) return problem('clock', `${iso} is before ${earliest.slice(0, 10)}: the clock is not set (no RTC? enable NTP: timedatectl set-ntp true)`);
  const synced = ['/run/systemd/timesync/synchronized', '/var/run/chrony/chronyd.pid', '/run/chrony/chronyd.pid'].find((p) => syncedMarker(p));
  return synced !== undefined ? ok('clock', `${iso} (synchronised: ${synced})`) : warn('clock', `${iso}, plausible; no NTP synchronisation marker found (timedatectl status)`);
}
