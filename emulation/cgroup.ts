/**
 * CPU quota and memory limit for child processes through Linux control groups: cgroup v1
 * (`cpu.cfs_quota_us` / `cpu.cfs_period_us`, `memory.limit_in_bytes`) or v2 (`cpu.max`,
 * `memory.max`, `memory.swap.max`), whichever this host mounts at /sys/fs/cgroup. Needs root (or
 * a delegated subtree). Groups are created under `<root>/tinyproto/` and removed by `remove()`.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';

export const CFS_PERIOD_US = 100_000;

export type CgroupSupport =
  | { readonly version: 'v1'; readonly cpuRoot: string; readonly memoryRoot: string }
  | { readonly version: 'v2'; readonly root: string }
  | { readonly version: null; readonly reason: string };

/** Which cgroup interface this host offers (reads the filesystem, creates nothing). */
export function detectCgroups(root = '/sys/fs/cgroup'): CgroupSupport {
  const controllers = join(root, 'cgroup.controllers');
  if (existsSync(controllers)) {
    const have = readFileSync(controllers, 'utf8').trim().split(/\s+/);
    const missing = ['cpu', 'memory'].filter((c) => !have.includes(c));
    if (missing.length > 0) return { version: null, reason: `cgroup v2 at ${root} lacks the ${missing.join(' and ')} controller(s)` };
    return { version: 'v2', root };
  }
  const cpuRoot = join(root, 'cpu');
  const memoryRoot = join(root, 'memory');
  if (existsSync(join(cpuRoot, 'cpu.cfs_quota_us')) && existsSync(join(memoryRoot, 'memory.limit_in_bytes'))) return { version: 'v1', cpuRoot, memoryRoot };
  return { version: null, reason: `no cgroup v1 cpu/memory or v2 hierarchy with cpu and memory at ${root}` };
}

export interface CgroupLimits {
  /** CPU time per wall second, in cores (0.25 = a quarter of one core). */
  readonly cpuCores: number;
  /** Memory limit, bytes (no swap beyond it where the host can say so). */
  readonly memoryBytes: number;
}

export interface CgroupUsage {
  /** Periods in which the group hit its quota, of all periods it ran in. */
  readonly throttledPeriods: number;
  readonly periods: number;
  /** Peak memory charged to the group, bytes (null when the kernel does not report it). */
  readonly peakMemoryBytes: number | null;
  /** Times the group ran out of memory (v2 oom_kill, v1 failcnt), null when not reported. */
  readonly oomEvents: number | null;
}

function write(path: string, value: string): void {
  try {
    writeFileSync(path, value);
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `cannot write "${value}" to ${path}: ${(e as Error).message} (cgroups need root or a delegated subtree)`);
  }
}

function readNumber(path: string): number | null {
  try {
    const n = Number(readFileSync(path, 'utf8').trim());
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}

function statField(path: string, key: string): number | null {
  try {
    const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(readFileSync(path, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

/** One group (in each v1 hierarchy, or one v2 directory) with its limits written. */
export class Cgroup {
  private constructor(
    readonly support: Exclude<CgroupSupport, { version: null }>,
    /** The group's directories (v1: cpu and memory; v2: one). */
    readonly dirs: readonly string[],
    readonly limits: CgroupLimits,
  ) {}

  static create(support: CgroupSupport, name: string, limits: CgroupLimits): Cgroup {
    if (support.version === null) throw new TinyProtoError('E_CONFIG', `cgroups unavailable: ${support.reason}`);
    if (!/^[A-Za-z0-9._-]{1,100}$/.test(name)) throw new TinyProtoError('E_ARGUMENT', `invalid cgroup name ${JSON.stringify(name)}`);
    if (!(limits.cpuCores > 0) || !Number.isFinite(limits.cpuCores)) throw new TinyProtoError('E_ARGUMENT', `cpuCores must be > 0, got ${limits.cpuCores}`);
    if (!(limits.memoryBytes >= 16 * 2 ** 20)) throw new TinyProtoError('E_ARGUMENT', `memoryBytes must be at least 16 MiB, got ${limits.memoryBytes}`);
    const quota = String(Math.max(1000, Math.round(limits.cpuCores * CFS_PERIOD_US)));
    const mkdir = (d: string): void => {
      try {
        mkdirSync(d, { recursive: true });
      } catch (e) {
        throw new TinyProtoError('E_CONFIG', `cannot create cgroup ${d}: ${(e as Error).message} (cgroups need root or a delegated subtree)`);
      }
    };
    if (support.version === 'v1') {
      const cpu = join(support.cpuRoot, 'tinyproto', name);
      const mem = join(support.memoryRoot, 'tinyproto', name);
      mkdir(cpu);
      mkdir(mem);
      const g = new Cgroup(support, [cpu, mem], limits);
      try {
        write(join(cpu, 'cpu.cfs_period_us'), String(CFS_PERIOD_US));
        write(join(cpu, 'cpu.cfs_quota_us'), quota);
        write(join(mem, 'memory.limit_in_bytes'), String(Math.round(limits.memoryBytes)));
        // no swap beyond the limit, where swap accounting is on
        if (existsSync(join(mem, 'memory.memsw.limit_in_bytes'))) write(join(mem, 'memory.memsw.limit_in_bytes'), String(Math.round(limits.memoryBytes)));
      } catch (e) {
        g.remove();
        throw e;
      }
      return g;
    }
    const parent = join(support.root, 'tinyproto');
    mkdir(parent);
    write(join(support.root, 'cgroup.subtree_control'), '+cpu +memory');
    write(join(parent, 'cgroup.subtree_control'), '+cpu +memory');
    const dir = join(parent, name);
    mkdir(dir);
    const g = new Cgroup(support, [dir], limits);
    try {
      write(join(dir, 'cpu.max'), `${quota} ${CFS_PERIOD_US}`);
      write(join(dir, 'memory.max'), String(Math.round(limits.memoryBytes)));
      if (existsSync(join(dir, 'memory.swap.max'))) write(join(dir, 'memory.swap.max'), '0');
    } catch (e) {
      g.remove();
      throw e;
    }
    return g;
  }

  /** Moves a process (one this program started) into the group. */
  add(pid: number): void {
    for (const d of this.dirs) write(join(d, 'cgroup.procs'), String(pid));
  }

  usage(): CgroupUsage {
    if (this.support.version === 'v1') {
      const [cpu, mem] = this.dirs as [string, string];
      return {
        periods: statField(join(cpu, 'cpu.stat'), 'nr_periods') ?? 0,
        throttledPeriods: statField(join(cpu, 'cpu.stat'), 'nr_throttled') ?? 0,
        peakMemoryBytes: readNumber(join(mem, 'memory.max_usage_in_bytes')),
        oomEvents: readNumber(join(mem, 'memory.failcnt')),
      };
    }
    const [dir] = this.dirs as [string];
    return {
      periods: statField(join(dir, 'cpu.stat'), 'nr_periods') ?? 0,
      throttledPeriods: statField(join(dir, 'cpu.stat'), 'nr_throttled') ?? 0,
      peakMemoryBytes: readNumber(join(dir, 'memory.peak')),
      oomEvents: statField(join(dir, 'memory.events'), 'oom_kill'),
    };
  }

  /**
   * Removes the group (its processes must have exited; the kernel refuses to remove a group
   * that still has members). Returns the directories it could not remove. Never throws.
   */
  remove(): string[] {
    const left: string[] = [];
    for (const d of this.dirs) {
      try {
        if (existsSync(d)) rmdirSync(d);
      } catch {
        left.push(d);
        continue;
      }
      try {
        rmdirSync(dirname(d)); // the shared tinyproto/ parent, once no other group is in it
      } catch {
        // still used by another group, or not ours to remove
      }
    }
    return left;
  }
}
