/**
 * What `tinyproto fleet --link PROFILE --board BOARD` sets up around the agents: one link
 * emulator per agent between it and the broker (so each agent has its own bottleneck, as each
 * board has its own radio), and one cgroup per agent with the board's CPU quota and memory
 * limit. The agents are told their board (TINYPROTO_BOARD), so telemetry's energy estimate uses
 * that board's profile.
 */
import { availableParallelism } from 'node:os';
import { silentLogger, type Logger } from '../common/logger.ts';
import { TinyProtoError } from '../common/errors.ts';
import { LinkEmulator } from './link-emulator.ts';
import type { Transfer } from './link-direction.ts';
import { resolveLinkProfile, type LinkProfile } from './link-profiles.ts';
import { BoardEmulator, type BoardPlacement } from './board-emulator.ts';
import { boardEmulation } from './boards.ts';
import { measureHostTrainSpeed } from './calibrate.ts';

export interface FleetEmulationOptions {
  /** Link profile spec (emulation/link-profiles.ts resolveLinkProfile); null = direct connections. */
  readonly link: string | null;
  /** Emulated board (emulation/boards.ts); null = agents run unthrottled with their own board detection. */
  readonly board: string | null;
  readonly brokerUrl: string;
  readonly agents: readonly string[];
  /** Unique per run: names the cgroups. */
  readonly tag: string;
  /** This machine's one-core training speed; null = measure it now (about 2-3 s). */
  readonly hostImagesPerSec: number | null;
  /** Each agent's intra-op threads: the most cores its quota may give it. */
  readonly threadsPerAgent: number;
  readonly seed: number;
  readonly logger?: Logger;
}

/** Checks the specs the fleet was given (E_CONFIG naming what is wrong), without starting anything. */
export function checkFleetEmulation(link: string | null, board: string | null): void {
  if (link !== null) resolveLinkProfile(link);
  if (board !== null) boardEmulation(board);
}

export class FleetEmulation {
  private readonly links = new Map<string, LinkEmulator>();
  private boards: BoardEmulator | null = null;
  private readonly placements = new Map<string, BoardPlacement>();
  /** Human-readable lines on what is emulated, and what could not be. */
  readonly lines: string[] = [];
  private profile: LinkProfile | null = null;

  private constructor(private readonly opts: FleetEmulationOptions) {}

  static async start(opts: FleetEmulationOptions): Promise<FleetEmulation> {
    const e = new FleetEmulation(opts);
    try {
      await e.setUp();
    } catch (err) {
      await e.close();
      throw err;
    }
    return e;
  }

  private async setUp(): Promise<void> {
    const { opts } = this;
    const logger = opts.logger ?? silentLogger;
    if (opts.link !== null) {
      const profile = resolveLinkProfile(opts.link);
      this.profile = profile;
      const u = new URL(opts.brokerUrl);
      const port = Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883));
      for (const [i, id] of opts.agents.entries()) {
        const emu = new LinkEmulator({ profile, targetHost: u.hostname, targetPort: port, seed: opts.seed * 1000 + i, logger });
        await emu.start();
        this.links.set(id, emu);
      }
      this.lines.push(
        `link ${profile.name} (${profile.label}): up ${rate(profile.up.rateKbit)} ${profile.up.latencyMs}+${profile.up.jitterMs} ms, down ${rate(profile.down.rateKbit)} ${profile.down.latencyMs}+${profile.down.jitterMs} ms, ` +
          `stall p ${profile.stallProbability} x ${profile.stallMs} ms, ${profile.schedule.length} scheduled event(s); one emulator per agent`,
      );
    }
    if (opts.board !== null) {
      const host = opts.hostImagesPerSec ?? (await measureHostTrainSpeed()).imagesPerSec;
      const boards = new BoardEmulator({ hostImagesPerSec: host, tag: opts.tag, maxCores: Math.max(1, opts.threadsPerAgent), logger });
      this.boards = boards;
      for (const id of opts.agents) this.placements.set(id, boards.place(id, opts.board));
      const p = this.placements.get(opts.agents[0]!)!;
      const cores = p.quota.cores * opts.agents.length;
      this.lines.push(
        `board ${opts.board}: ${p.quota.boardImagesPerSec.toFixed(0)} images/s estimated vs ${host.toFixed(0)} on one core here${opts.hostImagesPerSec === null ? ' (measured now)' : ''} → ` +
          `CPU quota ${p.quota.cores.toFixed(3)} cores, memory ${(p.emulation.memoryBytes.value / 2 ** 20).toFixed(0)} MiB per agent` +
          (boards.unavailable ? `; cgroups unavailable (${boards.unavailable}): agents run UNTHROTTLED` : `; cgroup ${detectedVersion(p)}`),
      );
      if (p.quota.clamped) this.lines.push(`  ${opts.board} is faster than one core of this machine: its agents run at this machine's speed`);
      if (cores > availableParallelism()) this.lines.push(`  the fleet's quotas add up to ${cores.toFixed(2)} cores and this machine has ${availableParallelism()}: agents will train slower than their boards`);
    }
  }

  /** The URL agent `id` connects to: its link emulator, or the broker itself. */
  brokerUrlFor(id: string): string {
    const emu = this.links.get(id);
    if (!emu) return this.opts.brokerUrl;
    const u = new URL(this.opts.brokerUrl);
    const port = new URL(emu.url).port;
    // keep the broker's host name when it is local (TLS checks it), else the emulator's address
    const host = ['localhost', '127.0.0.1', '[::1]'].includes(u.host.replace(/:\d+$/, '')) ? u.hostname : '127.0.0.1';
    return `${u.protocol}//${host}:${port}${u.pathname === '/' ? '' : u.pathname}`;
  }

  /** Environment additions for agent `id`'s process. */
  agentEnv(): Record<string, string> {
    return this.opts.board !== null ? { TINYPROTO_BOARD: this.opts.board } : {};
  }

  /** Moves agent `id`'s process into its board's cgroup (no-op without --board or cgroups). */
  attach(id: string, pid: number | undefined): void {
    const p = this.placements.get(id);
    if (!p || pid === undefined || !this.boards) return;
    this.boards.attach(p, pid);
  }

  /** Per agent: bytes, stalls and resets through its emulator, and its up transfers (performance.now() ms). */
  linkStats(): { agent: string; upBytes: number; downBytes: number; stalls: number; resets: number; upTransfers: readonly Transfer[] }[] {
    return [...this.links].map(([agent, e]) => {
      const s = e.stats();
      return { agent, upBytes: s.up.bytes, downBytes: s.down.bytes, stalls: s.up.stalls + s.down.stalls, resets: s.resets, upTransfers: s.transfers.up };
    });
  }

  /** Per agent in a cgroup: throttled periods and peak memory so far. */
  boardUsage(): { agent: string; periods: number; throttledPeriods: number; peakMemoryBytes: number | null; oomEvents: number | null }[] {
    return (this.boards?.usage() ?? []).map((u) => ({ agent: u.agent, ...u.usage }));
  }

  get linkProfile(): LinkProfile | null {
    return this.profile;
  }

  /** Closes the emulators and removes the cgroups (call after the agents exited). */
  async close(): Promise<string[]> {
    await Promise.all([...this.links.values()].map((e) => e.close()));
    return this.boards?.cleanup() ?? [];
  }
}

function rate(kbit: number): string {
  return kbit === 0 ? 'unlimited' : kbit >= 1000 ? `${kbit / 1000} Mbit/s` : `${kbit} kbit/s`;
}

function detectedVersion(p: BoardPlacement): string {
  const v = p.cgroup?.support.version;
  if (!v) throw new TinyProtoError('E_INTERNAL', 'placement without a cgroup');
  return v;
}
