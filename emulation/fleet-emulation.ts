/**
 * What `tinyproto fleet --link PROFILE --board BOARD` (or the experiment file's [[group]] tables,
 * each with its own link and board) sets up around the agents: one link emulator per agent with
 * a link profile between it and the broker (so each agent has its own bottleneck, as each board
 * has its own radio), and one cgroup per agent with a board, holding that board's CPU quota and
 * memory limit. Agents without a link connect directly; agents without a board run unthrottled.
 * The agents are told their board (TINYPROTO_BOARD), so telemetry's energy estimate uses that
 * board's profile.
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
import type { AgentPlan } from '../method/fleet-plan.ts';

/** What one agent emulates (method/fleet-plan.ts AgentPlan): its link and board, null = direct / none. */
export type EmulatedAgent = Pick<AgentPlan, 'id' | 'group' | 'link' | 'board'>;

export interface FleetEmulationOptions {
  /** Every agent of the fleet with its link profile spec (emulation/link-profiles.ts) and board (emulation/boards.ts). */
  readonly agents: readonly EmulatedAgent[];
  readonly brokerUrl: string;
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

/** Whether any agent has a link profile or a board to emulate. */
export function needsEmulation(agents: readonly EmulatedAgent[]): boolean {
  return agents.some((a) => a.link !== null || a.board !== null);
}

/** The agents by distinct value of `key` (in first-seen order), without the nulls. */
function byProfile(agents: readonly EmulatedAgent[], key: 'link' | 'board'): Map<string, EmulatedAgent[]> {
  const out = new Map<string, EmulatedAgent[]>();
  for (const a of agents) {
    const v = a[key];
    if (v !== null) out.set(v, [...(out.get(v) ?? []), a]);
  }
  return out;
}

/** "3 agents (group edge)" / "1 agent (groups a, b)". */
function whom(agents: readonly EmulatedAgent[]): string {
  const groups = [...new Set(agents.map((a) => a.group))];
  return `${agents.length} agent${agents.length === 1 ? '' : 's'} (group${groups.length === 1 ? '' : 's'} ${groups.join(', ')})`;
}

export class FleetEmulation {
  private readonly links = new Map<string, LinkEmulator>();
  private readonly profiles = new Map<string, LinkProfile>();
  private boards: BoardEmulator | null = null;
  private readonly placements = new Map<string, BoardPlacement>();
  private readonly boardOf = new Map<string, string>();
  /** Human-readable lines on what is emulated, and what could not be: one per distinct link profile and board. */
  readonly lines: string[] = [];

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
    const u = new URL(opts.brokerUrl);
    const port = Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883));
    for (const [spec, agents] of byProfile(opts.agents, 'link')) {
      const profile = resolveLinkProfile(spec);
      for (const a of agents) {
        const i = opts.agents.indexOf(a);
        const emu = new LinkEmulator({ profile, targetHost: u.hostname, targetPort: port, seed: opts.seed * 1000 + i, logger });
        await emu.start();
        this.links.set(a.id, emu);
        this.profiles.set(a.id, profile);
      }
      this.lines.push(
        `link ${profile.name} (${profile.label}): up ${rate(profile.up.rateKbit)} ${profile.up.latencyMs}+${profile.up.jitterMs} ms, down ${rate(profile.down.rateKbit)} ${profile.down.latencyMs}+${profile.down.jitterMs} ms, ` +
          `stall p ${profile.stallProbability} x ${profile.stallMs} ms, ${profile.schedule.length} scheduled event(s); ${whom(agents)}, one emulator per agent`,
      );
    }
    const boardGroups = byProfile(opts.agents, 'board');
    if (boardGroups.size === 0) return;
    const host = opts.hostImagesPerSec ?? (await measureHostTrainSpeed()).imagesPerSec;
    const boards = new BoardEmulator({ hostImagesPerSec: host, tag: opts.tag, maxCores: Math.max(1, opts.threadsPerAgent), logger });
    this.boards = boards;
    let cores = 0;
    for (const [board, agents] of boardGroups) {
      for (const a of agents) {
        this.placements.set(a.id, boards.place(a.id, board));
        this.boardOf.set(a.id, board);
      }
      const p = this.placements.get(agents[0]!.id)!;
      cores += p.quota.cores * agents.length;
      this.lines.push(
        `board ${board}: ${p.quota.boardImagesPerSec.toFixed(0)} images/s estimated vs ${host.toFixed(0)} on one core here${opts.hostImagesPerSec === null ? ' (measured now)' : ''} → ` +
          `CPU quota ${p.quota.cores.toFixed(3)} cores, memory ${(p.emulation.memoryBytes.value / 2 ** 20).toFixed(0)} MiB per agent` +
          (boards.unavailable ? `; cgroups unavailable (${boards.unavailable}): agents run UNTHROTTLED` : `; cgroup ${detectedVersion(p)}`) +
          `; ${whom(agents)}`,
      );
      if (p.quota.clamped) this.lines.push(`  ${board} is faster than one core of this machine: its agents run at this machine's speed`);
    }
    if (cores > availableParallelism()) this.lines.push(`  the fleet's quotas add up to ${cores.toFixed(2)} cores and this machine has ${availableParallelism()}: agents will train slower than their boards`);
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

  /** Environment additions for agent `id`'s process: the board it emulates, if any. */
  agentEnv(id: string): Record<string, string> {
    const board = this.boardOf.get(id);
    return board !== undefined ? { TINYPROTO_BOARD: board } : {};
  }

  /** Moves agent `id`'s process into its board's cgroup (no-op without a board or cgroups). */
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

  /** The link profile agent `id` runs over, or null for a direct connection. */
  linkProfileOf(id: string): LinkProfile | null {
    return this.profiles.get(id) ?? null;
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
