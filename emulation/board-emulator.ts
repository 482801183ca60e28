/**
 * Makes agent processes behave like boards: each gets its own cgroup with the board's CPU quota
 * (its training speed over this machine's) and memory limit. Where cgroups are unavailable (no
 * root, no cpu/memory controller), it says so once and the agents run unthrottled.
 */
import { silentLogger, type Logger } from '../common/logger.ts';
import { Cgroup, detectCgroups, type CgroupSupport, type CgroupUsage } from './cgroup.ts';
import { boardEmulation, cpuQuotaFor, type BoardEmulation, type CpuQuota } from './boards.ts';

export interface BoardPlacement {
  readonly agent: string;
  readonly emulation: BoardEmulation;
  readonly quota: CpuQuota;
  /** null: unthrottled (see `BoardEmulator.unavailable`). */
  readonly cgroup: Cgroup | null;
}

export interface BoardEmulatorOptions {
  /** This machine's one-core training speed (emulation/calibrate.ts), images/s. */
  readonly hostImagesPerSec: number;
  /** Prefix of the cgroup names, unique per run (e.g. the experiment id). */
  readonly tag: string;
  /** Cores each agent may use at most (its intra-op threads). */
  readonly maxCores?: number;
  readonly support?: CgroupSupport;
  readonly logger?: Logger;
}

export class BoardEmulator {
  private readonly placements: BoardPlacement[] = [];
  private readonly support: CgroupSupport;
  private readonly logger: Logger;
  /** Why agents run unthrottled, or null while cgroups work. */
  unavailable: string | null = null;

  constructor(private readonly opts: BoardEmulatorOptions) {
    this.support = opts.support ?? detectCgroups();
    this.logger = opts.logger ?? silentLogger;
    if (this.support.version === null) this.unavailable = this.support.reason;
  }

  /** The board's group for `agent` (created now), or an unthrottled placement when cgroups fail. */
  place(agent: string, board: string): BoardPlacement {
    const emulation = boardEmulation(board);
    const quota = cpuQuotaFor(emulation, this.opts.hostImagesPerSec, this.opts.maxCores ?? 1);
    if (quota.clamped) this.logger.warn('board faster than one core of this machine: its agent runs at this machine\'s speed', { agent, board });
    let cgroup: Cgroup | null = null;
    if (this.unavailable === null) {
      try {
        cgroup = Cgroup.create(this.support, `${this.opts.tag}-${agent}`, { cpuCores: quota.cores, memoryBytes: emulation.memoryBytes.value });
      } catch (e) {
        this.unavailable = (e as Error).message;
        this.logger.warn('cgroups unavailable: agents run unthrottled', { reason: this.unavailable });
      }
    }
    const p = { agent, emulation, quota, cgroup };
    this.placements.push(p);
    return p;
  }

  /** Puts a started process into its placement's group; false when it runs unthrottled. */
  attach(p: BoardPlacement, pid: number): boolean {
    if (!p.cgroup) return false;
    try {
      p.cgroup.add(pid);
      return true;
    } catch (e) {
      this.logger.warn('cannot move the agent into its cgroup: it runs unthrottled', { agent: p.agent, error: (e as Error).message });
      return false;
    }
  }

  usage(): { agent: string; usage: CgroupUsage }[] {
    return this.placements.flatMap((p) => (p.cgroup ? [{ agent: p.agent, usage: p.cgroup.usage() }] : []));
  }

  /** Removes every group it created (after their processes exited); returns what is left. */
  cleanup(): string[] {
    const left = this.placements.flatMap((p) => p.cgroup?.remove() ?? []);
    if (left.length > 0) this.logger.warn('cgroups left behind (processes still in them)', { left });
    return left;
  }
}
