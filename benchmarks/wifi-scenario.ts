/**
 * The fleet `npm run bench:wifi` runs: the experiment file (default experiments/bench-wifi.toml:
 * its [[group]] tables give each agent a link, a board and a churn schedule) with the bench's
 * flags on top; `--quick` is four agents, one per board, two rounds.
 */
import { TinyProtoError } from '../common/errors.ts';
import { fleetPlan, isOffline, validateGroups, type AgentPlan, type FleetGroup } from '../method/fleet-plan.ts';
import type { ExperimentConfig } from '../aggregator/config.ts';
import { loadExperimentFile } from '../cli/experiment-file.ts';

export const WIFI_EXPERIMENT_FILE = 'experiments/bench-wifi.toml';

export interface WifiFlags {
  readonly quick: boolean;
  readonly file: string;
  readonly agents?: string;
  readonly rounds?: string;
  readonly samplesPerClient?: string;
  readonly seed?: string;
  readonly link?: string;
  readonly board?: string;
}

export interface WifiScenario {
  readonly file: string;
  readonly plans: readonly AgentPlan[];
  readonly groups: readonly FleetGroup[] | null;
  readonly rounds: number;
  readonly samplesPerClient: number;
  readonly seed: number;
  readonly alpha: number;
  readonly roundDeadlineMs: number;
  readonly aggregator: Partial<ExperimentConfig>;
}

/** Four agents, one per emulated board; the Pi Zero 2 W goes offline in round 2. */
const QUICK_GROUPS = [
  { name: 'pi4', agents: 1, board: 'rpi4b' },
  { name: 'pi5', agents: 1, board: 'rpi5' },
  { name: 'orin', agents: 1, board: 'jetson-orin-nano' },
  { name: 'zero', agents: 1, board: 'rpizero2w', offline: [2] },
];

const int = (flag: string, v: string | undefined): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new TinyProtoError('E_CONFIG', `--${flag} must be a positive integer, got "${v}"`);
  return n;
};

export function wifiScenario(flags: WifiFlags): WifiScenario {
  const f = loadExperimentFile(flags.file);
  const agentsFlag = int('agents', flags.agents);
  let groups: readonly FleetGroup[] | null = flags.quick ? validateGroups(QUICK_GROUPS, (i, k) => `--quick group ${i}${k ? ` ${k}` : ''}`) : (f.groups ?? null);
  // --agents replaces the groups by one uniform group (the file's, or the flags', link and board)
  if (agentsFlag !== undefined) groups = null;
  const link = flags.link ?? f.link ?? null;
  const board = flags.board ?? f.board ?? null;
  const plans = fleetPlan({ agents: groups === null ? (agentsFlag ?? f.agents ?? 12) : null, groups, link, board });
  const aggregator: Record<string, unknown> = {};
  for (const k of ['lambda', 'mu', 'muFactor', 'lr', 'batchSize', 'localEpochs', 'participation', 'minUploads', 'closeAt'] as const) {
    if (f[k] !== undefined) aggregator[k] = f[k];
  }
  const rounds = int('rounds', flags.rounds) ?? (flags.quick ? 2 : (f.rounds ?? 6));
  // a round must be able to close with the agents its churn leaves online (--quick, --agents)
  const online = Math.min(...Array.from({ length: rounds }, (_, i) => plans.filter((p) => !isOffline(p, i + 1)).length));
  if (typeof aggregator['minUploads'] === 'number') aggregator['minUploads'] = Math.max(1, Math.min(aggregator['minUploads'], online));
  return {
    file: flags.file,
    plans,
    groups,
    rounds,
    samplesPerClient: int('samples-per-client', flags.samplesPerClient) ?? (flags.quick ? 60 : (f.samplesPerClient ?? 300)),
    seed: int('seed', flags.seed) ?? f.seed ?? 1,
    alpha: f.alpha ?? 0.5,
    roundDeadlineMs: f.roundDeadlineMs ?? 120_000,
    aggregator: aggregator as Partial<ExperimentConfig>,
  };
}

/** "pi4 (agent-0..agent-3): 4 x rpi4b on wifi-congested; zero (agent-4..agent-6): 3 x rpizero2w on wifi-congested, offline rounds 4-5; ..." */
export function describeGroups(plans: readonly AgentPlan[]): string {
  const byGroup = new Map<string, AgentPlan[]>();
  for (const p of plans) byGroup.set(p.group, [...(byGroup.get(p.group) ?? []), p]);
  return [...byGroup]
    .map(([name, ps]) => {
      const p = ps[0]!;
      const churn = [
        ...(p.offline.length ? [`offline rounds ${p.offline.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ')}`] : []),
        ...(p.crashUpload.length ? [`crashes mid-upload in round ${p.crashUpload.join(', ')}`] : []),
      ];
      const ids = ps.length === 1 ? p.id : `${p.id}..${ps[ps.length - 1]!.id}`;
      return `${name} (${ids}): ${ps.length} x ${p.board ?? 'unthrottled'} on ${p.link ?? 'a direct connection'}${churn.length ? `, ${churn.join(', ')}` : ''}`;
    })
    .join('; ');
}

/** The link most agents of the plan use (the one the bench states its upload figures for). */
export function mainLink(plans: readonly AgentPlan[]): string | null {
  const count = new Map<string, number>();
  for (const p of plans) if (p.link !== null) count.set(p.link, (count.get(p.link) ?? 0) + 1);
  return [...count].sort((a, b) => b[1] - a[1])[0]?.[0] ?? null;
}
