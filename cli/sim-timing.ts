/**
 * `simulate`'s simulated links and boards: the experiment file's [fleet] link/board and
 * [[group]] tables (method/fleet-plan.ts, one plan per client) resolved into the plain numbers
 * sim/timing.ts takes: each link profile's rates, latencies, jitter and stalls
 * (emulation/link-profiles.ts), each board's training speed (emulation/boards.ts, the figure the
 * fleet's CPU quota is calibrated to), and the aggregator's round rules with its defaults
 * (aggregator/config.ts), so that a simulation and a fleet of one file follow the same rules.
 */
import { fleetPlan, type FleetGroup } from '../method/fleet-plan.ts';
import { resolveLinkProfile, SEGMENT_BYTES } from '../emulation/link-profiles.ts';
import { boardEmulation, boardTrainImagesPerSec, EMULATED_BOARDS } from '../emulation/boards.ts';
import { EXPERIMENT_DEFAULTS } from '../aggregator/config.ts';
import { DEFAULT_RESTART_MS, type SimClientTiming, type SimTiming } from '../sim/timing.ts';

export interface SimTimingSources {
  readonly clients: number;
  readonly groups: readonly FleetGroup[] | null;
  /** The fleet-wide link spec (--link or [fleet] link); null = direct. */
  readonly link: string | null;
  /** The fleet-wide board, when it is an emulated board; null = none. */
  readonly board: string | null;
  readonly deadlineMs: number | undefined;
  readonly minUploads: number | undefined;
  readonly closeAt: number | undefined;
}

/** Whether `name` is a board that the fleet emulates (and simulate can time). */
export function isEmulatedBoard(name: string | undefined | null): name is string {
  return typeof name === 'string' && (EMULATED_BOARDS as readonly string[]).includes(name);
}

/** The run's SimTiming, or null when no client has a link, a board or churn (nothing to time). */
export function resolveSimTiming(s: SimTimingSources): SimTiming | null {
  const plans = fleetPlan({ agents: s.clients, groups: s.groups, link: s.link, board: s.board });
  if (!plans.some((p) => p.link !== null || p.board !== null || p.offline.length > 0 || p.crashUpload.length > 0)) return null;
  const links = new Map<string, SimClientTiming['link']>();
  const clients = plans.map((p): SimClientTiming => {
    let link: SimClientTiming['link'] = null;
    if (p.link !== null) {
      if (!links.has(p.link)) {
        const l = resolveLinkProfile(p.link);
        links.set(p.link, Object.freeze({ up: l.up, down: l.down, stallProbability: l.stallProbability, stallMs: l.stallMs, segmentBytes: SEGMENT_BYTES, schedule: l.schedule }));
      }
      link = links.get(p.link)!;
    }
    return Object.freeze({
      group: p.group,
      offline: p.offline,
      crashUpload: p.crashUpload,
      linkName: p.link,
      link,
      board: p.board,
      boardImagesPerSec: p.board === null ? null : boardTrainImagesPerSec(boardEmulation(p.board)),
    });
  });
  return {
    clients,
    deadlineMs: s.deadlineMs ?? EXPERIMENT_DEFAULTS.roundDeadlineMs,
    minUploads: s.minUploads ?? EXPERIMENT_DEFAULTS.minUploads,
    closeAt: s.closeAt ?? EXPERIMENT_DEFAULTS.closeAt,
    maxExtensions: EXPERIMENT_DEFAULTS.maxDeadlineExtensions,
    offlineGraceMs: EXPERIMENT_DEFAULTS.offlineGraceMs,
    restartMs: DEFAULT_RESTART_MS,
  };
}
