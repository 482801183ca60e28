/**
 * The fleet's agents in groups (experiment file `[[group]]` tables): each group has a number of
 * agents, a link profile, a board profile and a churn schedule. Pure: it turns validated groups
 * into one plan per agent (agent-0 .. agent-(N-1), groups in file order) that `fleet` (real
 * processes, links and cgroups) and `simulate` (simulated delays) both follow, so that one file
 * gives both the same agents, the same profiles and the same churn.
 *
 *   [[group]]
 *   name = "edge"              # optional, default "group-<n>"
 *   agents = 4
 *   link = "wifi-weak"         # optional: the [fleet] link, else direct
 *   board = "rpi-zero-2w"      # optional: the [fleet] board, else none
 *   offline = ["5-8"]          # optional: rounds the group's agents are offline (not running)
 *   crash-upload = [3]         # optional: rounds in which each agent of the group is killed
 *                              #   while it uploads, then restarted from its SQLite state
 */
import { TinyProtoError } from '../common/errors.ts';

export interface FleetGroup {
  readonly name: string;
  readonly agents: number;
  readonly link: string | null;
  readonly board: string | null;
  /** Inclusive round ranges [from, to] in which the group's agents are offline. */
  readonly offline: readonly (readonly [number, number])[];
  /** Rounds in which each agent of the group crashes mid-upload (and is restarted). */
  readonly crashUpload: readonly number[];
}

export interface AgentPlan {
  readonly id: string;
  /** The agent's client index (its shard), 0-based. */
  readonly index: number;
  readonly group: string;
  readonly link: string | null;
  readonly board: string | null;
  readonly offline: readonly (readonly [number, number])[];
  readonly crashUpload: readonly number[];
}

/** Agent ids of a fleet of n: agent-0 .. agent-(n-1). */
export function agentIds(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `agent-${i}`);
}

const GROUP_KEYS = ['name', 'agents', 'link', 'board', 'offline', 'crash-upload'] as const;

/** Parses "5-8" or "5" (or the number 5) into an inclusive range; null when it is not one. */
export function parseRoundRange(v: unknown): [number, number] | null {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 1 ? [v, v] : null;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(v);
  if (!m) return null;
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  return from >= 1 && to >= from ? [from, to] : null;
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * Validates the `group` array of an experiment file (`where(i, key)` names the place in errors).
 * Errors are E_CONFIG naming `group[i].key`.
 */
export function validateGroups(v: unknown, where: (i: number, key: string | null) => string): FleetGroup[] {
  if (!Array.isArray(v) || v.length === 0) throw new TinyProtoError('E_CONFIG', `${where(0, null)}: "group" must be a list of tables ([[group]]), got ${JSON.stringify(v)}`, { field: 'group' });
  return v.map((g, i) => {
    const bad = (key: string, why: string, value: unknown): TinyProtoError =>
      new TinyProtoError('E_CONFIG', `${where(i, key)}: "group[${i}].${key}" ${why}, got ${JSON.stringify(value)}`, { field: `group[${i}].${key}`, value });
    if (!isTable(g)) throw new TinyProtoError('E_CONFIG', `${where(i, null)}: "group[${i}]" must be a table`, { field: `group[${i}]` });
    for (const key of Object.keys(g)) {
      if (!(GROUP_KEYS as readonly string[]).includes(key)) {
        throw new TinyProtoError('E_CONFIG', `${where(i, key)}: unknown key "group[${i}].${key}"; known keys: ${GROUP_KEYS.map((k) => `group.${k}`).join(', ')}`, { field: `group[${i}].${key}` });
      }
    }
    const name = g['name'] ?? `group-${i}`;
    if (typeof name !== 'string' || name === '') throw bad('name', 'must be a non-empty string', name);
    const agents = g['agents'];
    if (typeof agents !== 'number' || !Number.isInteger(agents) || agents < 1 || agents > 100_000) throw bad('agents', 'must be an integer from 1 to 100000', agents);
    const text = (key: 'link' | 'board'): string | null => {
      const t = g[key];
      if (t === undefined) return null;
      if (typeof t !== 'string' || t === '') throw bad(key, 'must be a non-empty string', t);
      return t;
    };
    const offlineRaw = g['offline'] ?? [];
    if (!Array.isArray(offlineRaw)) throw bad('offline', 'must be a list of round ranges such as ["5-8"]', offlineRaw);
    const offline = offlineRaw.map((r) => {
      const range = parseRoundRange(r);
      if (range === null) throw bad('offline', 'must be a list of round ranges such as ["5-8"] or [3]', offlineRaw);
      return Object.freeze(range) as readonly [number, number];
    });
    const crashRaw = g['crash-upload'] ?? [];
    if (!Array.isArray(crashRaw) || !crashRaw.every((r) => typeof r === 'number' && Number.isInteger(r) && r >= 1)) throw bad('crash-upload', 'must be a list of round numbers such as [3]', crashRaw);
    for (const r of crashRaw as number[]) {
      if (offline.some(([a, b]) => r >= a && r <= b)) throw bad('crash-upload', `names round ${r}, in which the group is offline`, crashRaw);
    }
    return Object.freeze({ name, agents, link: text('link'), board: text('board'), offline: Object.freeze(offline), crashUpload: Object.freeze([...(crashRaw as number[])].sort((a, b) => a - b)) });
  });
}

/**
 * One plan per agent. Without groups every agent gets the fleet-wide link and board and no churn.
 * With groups their agents must add up to `agents` when that is given (E_CONFIG otherwise); a
 * group's link/board default to the fleet-wide ones.
 */
export function fleetPlan(opts: { agents: number | null; groups: readonly FleetGroup[] | null; link: string | null; board: string | null }): AgentPlan[] {
  const groups = opts.groups ?? null;
  if (groups === null) {
    if (opts.agents === null) throw new TinyProtoError('E_CONFIG', 'a fleet needs a number of agents or [[group]] tables');
    return agentIds(opts.agents).map((id, index) => Object.freeze({ id, index, group: 'all', link: opts.link, board: opts.board, offline: [], crashUpload: [] }));
  }
  const total = groups.reduce((a, g) => a + g.agents, 0);
  if (opts.agents !== null && opts.agents !== total) {
    throw new TinyProtoError('E_CONFIG', `the groups hold ${total} agents (${groups.map((g) => `${g.name} ${g.agents}`).join(', ')}) but agents = ${opts.agents}; make them agree or leave "agents" out`, { field: 'agents' });
  }
  const names = new Set<string>();
  for (const g of groups) {
    if (names.has(g.name)) throw new TinyProtoError('E_CONFIG', `two groups are named "${g.name}"`, { field: 'group.name' });
    names.add(g.name);
  }
  const ids = agentIds(total);
  const out: AgentPlan[] = [];
  for (const g of groups) {
    for (let k = 0; k < g.agents; k++) {
      const index = out.length;
      out.push(Object.freeze({ id: ids[index]!, index, group: g.name, link: g.link ?? opts.link, board: g.board ?? opts.board, offline: g.offline, crashUpload: g.crashUpload }));
    }
  }
  return out;
}

/** Whether the plan has the agent offline in `round`. */
export function isOffline(plan: Pick<AgentPlan, 'offline'>, round: number): boolean {
  return plan.offline.some(([a, b]) => round >= a && round <= b);
}

/** Whether the plan has the agent crash mid-upload in `round`. */
export function crashesInRound(plan: Pick<AgentPlan, 'crashUpload'>, round: number): boolean {
  return plan.crashUpload.includes(round);
}

/** Whether any agent of the plan has churn (offline rounds or crashes). */
export function hasChurn(plans: readonly AgentPlan[]): boolean {
  return plans.some((p) => p.offline.length > 0 || p.crashUpload.length > 0);
}
