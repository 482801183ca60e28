/**
 * One run of `npm run bench:wifi`: a real fleet (embedded broker, aggregator, agent processes,
 * each behind its own link emulator and in its own board cgroup) for one method, and what the
 * benchmark reads from it: the report's RunData (rounds, accuracy, bytes, telemetry with the
 * emulated boards' energy), the uploads as the aggregator accepted them, matched to the up
 * transfers through each agent's link emulator, and the emulators' and cgroups' counters.
 */
import { join } from 'node:path';
import { runFleet, type FleetOptions, type FleetResult } from '../fleet/run.ts';
import type { Method } from '../method/method.ts';
import type { AgentPlan } from '../method/fleet-plan.ts';
import type { Logger } from '../common/logger.ts';
import { loadAggregatorDb } from '../report/load.ts';
import type { RunData } from '../report/model.ts';
import { resolveLinkProfile } from '../emulation/link-profiles.ts';
import type { Transfer } from '../emulation/link-direction.ts';
import { computedSeconds, matchUploads, type UploadOnLink, type UploadSeen } from './wifi-analysis.ts';

/** The methods' names in tables and chart legends. */
export const METHOD_LABELS: Partial<Record<Method, string>> = { tinyproto: 'TinyProto', fedproto: 'FedProto' };

export interface WifiRunSettings {
  /** One plan per agent (method/fleet-plan.ts): group, link, board, offline rounds, crashes mid-upload. */
  readonly agents: readonly AgentPlan[];
  readonly rounds: number;
  readonly samplesPerClient: number;
  readonly seed: number;
  readonly alpha: number;
  readonly hostImagesPerSec: number;
  readonly roundDeadlineMs: number;
  readonly dir: string;
  readonly aggregator: NonNullable<FleetOptions['aggregator']>;
}

export interface WifiRun {
  readonly method: Method;
  readonly experiment: string;
  readonly run: RunData;
  readonly result: FleetResult;
  readonly uploads: readonly UploadOnLink[];
  /** Per matched upload, bytes / rate + latency on its agent's up link, s. */
  readonly computed: readonly number[];
  /** Uploads the aggregator accepted, matched or not. */
  readonly accepted: number;
  readonly emulation: readonly string[];
  readonly seconds: number;
}

export async function runWifiMethod(method: Method, s: WifiRunSettings, tag: string, log: (line: string) => void, logger?: Logger): Promise<WifiRun> {
  const experiment = `wifi-${method}-${tag}`;
  const dir = join(s.dir, method);
  const uploads: UploadSeen[] = [];
  let emulation: readonly string[] = [];
  const t0 = performance.now();
  const opts: FleetOptions = {
    agents: s.agents.length, rounds: s.rounds, broker: 'embedded', dir, experiment, method, alpha: s.alpha, seed: s.seed,
    samplesPerClient: s.samplesPerClient, dataDir: null, featureDim: 500, ratio: 0.1, valueType: 'float32', families: null,
    credentials: null, caFile: null, roundDeadlineMs: s.roundDeadlineMs, backend: 'auto', engine: 'auto',
    link: null, board: null, plans: s.agents, hostImagesPerSec: s.hostImagesPerSec, aggregator: s.aggregator,
  };
  const result = await runFleet(opts, {
    ...(logger ? { logger } : {}),
    onEmulation: (lines) => {
      emulation = lines;
      for (const l of lines) log(`  ${method}: ${l}`);
    },
    onChurn: (e) => log(`  ${method} churn: ${e.agent} ${e.action} (round ${e.round})`),
    onUpload: (u) => uploads.push({ round: u.round, agent: u.agent, bytes: u.bytes, atMs: performance.now() }),
    onRound: (r) => {
      const el = (performance.now() - t0) / 1000;
      const eta = r.round > 0 ? (el / r.round) * (s.rounds - r.round) : 0;
      log(`  ${method} round ${r.round}/${s.rounds}: ${r.uploads}/${r.selected} uploads, ${r.bytesIn} B in, ${r.seconds.toFixed(1)} s (${r.outcome}); elapsed ${el.toFixed(0)} s, ETA ${eta.toFixed(0)} s`);
    },
  });
  const runs = loadAggregatorDb(join(dir, 'aggregator.db'));
  const found = runs.find((r) => r.name === experiment) ?? runs[0]!;
  const run: RunData = { ...found, name: METHOD_LABELS[method] ?? method };
  const transfers = new Map<string, readonly Transfer[]>(result.links.map((l) => [l.agent, l.upTransfers]));
  const matched = matchUploads(transfers, uploads);
  const linkOf = new Map(s.agents.map((a) => [a.id, a.link]));
  const computed = matched.map((u) => {
    const spec = linkOf.get(u.agent);
    return spec ? computedSeconds(u.linkBytes, resolveLinkProfile(spec).up) : 0;
  });
  return { method, experiment, run, result, uploads: matched, computed, accepted: uploads.length, emulation, seconds: (performance.now() - t0) / 1000 };
}
