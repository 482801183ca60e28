/**
 * Small synchronous filesystem seam for sysfs/procfs readers.
 *
 * Every reader in board/ takes `root` (default '/') so tests point it at a fixture tree laid
 * out like the real one (test/fixtures/sysfs/<case>/sys/...), and optionally `fs` so tests can
 * simulate what a fixture cannot express portably (EACCES on a root-only file, a counter that
 * moves between two reads). sysfs attribute reads are a few bytes and do not block on I/O, so the
 * readers are synchronous; that keeps `start()` synchronous and the snapshot close to the call.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';

export interface SysFs {
  /** Whole file as text; throws the usual NodeJS.ErrnoException (ENOENT, EACCES, ...). */
  readFile(path: string): string;
  /** Entry names of a directory; throws when it does not exist. */
  readdir(path: string): string[];
}

export const nodeSysFs: SysFs = Object.freeze({
  readFile: (path: string) => readFileSync(path, 'utf8'),
  readdir: (path: string) => readdirSync(path),
});

/** Options every sensor reader accepts. */
export interface SysOptions {
  /** Filesystem root the absolute sysfs paths are resolved under (default '/'). */
  readonly root?: string;
  readonly fs?: SysFs;
}

export interface ResolvedSys {
  readonly root: string;
  readonly fs: SysFs;
  /** Absolute system path (e.g. '/sys/class/powercap') -> path under root. */
  at(absolute: string): string;
}

export function resolveSys(opts: SysOptions = {}): ResolvedSys {
  const root = opts.root ?? '/';
  const fs = opts.fs ?? nodeSysFs;
  return { root, fs, at: (absolute: string) => (root === '/' ? absolute : join(root, absolute)) };
}

/** Directory entries, or [] when the directory is missing or unreadable. */
export function listDir(fs: SysFs, dir: string): string[] {
  try {
    return fs.readdir(dir);
  } catch {
    return [];
  }
}

/** Trimmed file text (device-tree strings end in NUL), or null when missing or unreadable. */
export function readText(fs: SysFs, path: string): string | null {
  try {
    return fs.readFile(path).replace(/\0+$/g, '').trim();
  } catch {
    return null;
  }
}

/** A finite number from a one-value sysfs attribute; throws (with errno) when unreadable. */
export function readNumberStrict(fs: SysFs, path: string): number {
  const text = fs.readFile(path).trim();
  const n = Number(text);
  if (text === '' || !Number.isFinite(n)) throw new TinyProtoError('E_SENSOR', `${path}: not a number: ${JSON.stringify(text.slice(0, 40))}`);
  return n;
}

/** Like readNumberStrict but null on any failure. */
export function readNumber(fs: SysFs, path: string): number | null {
  try {
    return readNumberStrict(fs, path);
  } catch {
    return null;
  }
}

export function errnoCode(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null && 'code' in e && typeof (e as { code: unknown }).code === 'string'
    ? (e as { code: string }).code
    : undefined;
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Sort 'hwmon10' after 'hwmon2', 'intel-rapl:0:10' after 'intel-rapl:0:2'. */
export function naturalCompare(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
