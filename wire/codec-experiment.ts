/**
 * EXPERIMENT (type 9, PROTOCOL.md §3.9): the aggregator's announcement of an experiment to a
 * fleet of long-lived agents, retained on `tinyproto/fleet/{fleet}/experiment/{experiment}`.
 * Header: experiment id, sender = the aggregator, round 0. Body:
 *
 *     0   1  state: 0 open, 1 ended
 *     1   1  method: 0 tinyproto, 1 fedproto, 2 local
 *     2      fleet id (u8 length 1..32 + id chars)
 *     .      data set name (u8 length 1..32 + id chars), e.g. fashion-mnist
 *     .   1  data source kind: 0 idx, 1 cifar, 2 image-folder
 *     .   2  K (u16, 2..65535)    .   2  d (u16, K..65535)
 *     .   4  clients (u32, 1..100000)   .  8  alpha (f64, finite, > 0)
 *     .   4  seed (u32)   .  4  samples-per-client cap (u32; 0 = all, else >= 4)
 *     .   1  assignment mode:
 *            0 list:     u16 count (1..4096), then per agent: agent id (u8 length + chars),
 *                        client index u32 (< clients), family (u8 length 0..32; 0 = by index)
 *            1 numbered: prefix (u8 length 0..31 + id chars): agent `{prefix}{n}` (n decimal,
 *                        no leading zeros, n < clients) is client n, family by index
 *
 * The class masks are not repeated here: agents take them from the experiment's MASKS message;
 * the learning settings (lr, lambda, batch, epochs) come with each ROUND.
 */
import { DATA_SOURCE_KINDS, EXPERIMENT_STATES, MAX_ASSIGNED_AGENTS, MAX_EXPERIMENT_CLIENTS, ROUND_METHODS, type AssignedAgent, type Assignment, type ExperimentBody } from './codec-types.ts';
import { checkIdString, checkUint, enumIndex, enumName, fail, type Reader, Writer } from './codec-io.ts';

const ASSIGNMENT_MODES = ['list', 'numbered'] as const;

function checkAlpha(ctx: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail('E_NON_FINITE', `${ctx}: alpha is not finite (${String(v)})`, { got: v });
  if (!(v > 0) || v > 1e6) fail('E_CODEC_FIELD', `${ctx}: alpha must be in (0, 1e6], got ${v}`, { got: v });
  return v;
}

function checkCap(ctx: string, cap: number): number {
  if (cap !== 0 && cap < 4) fail('E_CODEC_FIELD', `${ctx}: samples-per-client cap must be 0 (all) or >= 4, got ${cap}`, { got: cap });
  return cap;
}

function checkEntries(ctx: string, agents: readonly AssignedAgent[], clients: number): void {
  const ids = new Set<string>();
  const indexes = new Map<number, string>();
  for (const a of agents) {
    if (ids.has(a.agent)) fail('E_CODEC_FIELD', `${ctx}: agent "${a.agent}" is assigned twice`, { agent: a.agent });
    ids.add(a.agent);
    if (a.client >= clients) fail('E_CODEC_FIELD', `${ctx}: agent "${a.agent}" has client index ${a.client}, must be < clients ${clients}`, { agent: a.agent, got: a.client });
    const other = indexes.get(a.client);
    if (other !== undefined) fail('E_CODEC_FIELD', `${ctx}: agents "${other}" and "${a.agent}" share client index ${a.client}`, { got: a.client });
    indexes.set(a.client, a.agent);
  }
}

export function encodeExperimentBody(ctx: string, b: ExperimentBody): Uint8Array {
  if (typeof b !== 'object' || b === null) fail('E_CODEC_FIELD', `${ctx}: body must be an object`);
  const state = enumIndex(ctx, 'state', EXPERIMENT_STATES, b.state);
  const method = enumIndex(ctx, 'method', ROUND_METHODS, b.method);
  const fleet = checkIdString(ctx, 'fleet id', b.fleet);
  const dataset = checkIdString(ctx, 'data set name', b.dataset);
  const source = enumIndex(ctx, 'data source kind', DATA_SOURCE_KINDS, b.source);
  const K = checkUint(ctx, 'K', b.numClasses, 2, 0xffff);
  const d = checkUint(ctx, 'd', b.featureDim, K, 0xffff);
  const clients = checkUint(ctx, 'clients', b.clients, 1, MAX_EXPERIMENT_CLIENTS);
  const alpha = checkAlpha(ctx, b.alpha);
  const seed = checkUint(ctx, 'seed', b.seed, 0, 0xffffffff);
  const cap = b.samplesPerClient === null ? 0 : checkUint(ctx, 'samples-per-client cap', b.samplesPerClient, 4, 0xffffffff);
  const a = b.assignment;
  if (typeof a !== 'object' || a === null) fail('E_CODEC_FIELD', `${ctx}: assignment must be an object`);
  const mode = enumIndex(ctx, 'assignment mode', ASSIGNMENT_MODES, a.mode);
  const w = new Writer(64 + (a.mode === 'list' && Array.isArray(a.agents) ? a.agents.length * 70 : 32));
  w.u8(state);
  w.u8(method);
  w.shortAscii(fleet);
  w.shortAscii(dataset);
  w.u8(source);
  w.u16(K);
  w.u16(d);
  w.u32(clients);
  w.f64(alpha);
  w.u32(seed);
  w.u32(cap);
  w.u8(mode);
  if (a.mode === 'list') {
    if (!Array.isArray(a.agents)) fail('E_CODEC_FIELD', `${ctx}: assignment agents must be a list`);
    checkUint(ctx, 'assigned agent count', a.agents.length, 1, MAX_ASSIGNED_AGENTS);
    const entries = a.agents.map((e) => ({
      agent: checkIdString(ctx, 'assigned agent id', e.agent),
      client: checkUint(ctx, `client index of "${e.agent}"`, e.client, 0, 0xffffffff),
      family: e.family === null ? null : checkIdString(ctx, `family of "${e.agent}"`, e.family),
    }));
    checkEntries(ctx, entries, clients);
    w.u16(entries.length);
    for (const e of entries) {
      w.shortAscii(e.agent);
      w.u32(e.client);
      w.shortAscii(e.family ?? '');
    }
  } else {
    const prefix = checkIdString(ctx, 'agent id prefix', a.prefix, 0);
    if (prefix.length > 31) fail('E_CODEC_FIELD', `${ctx}: agent id prefix has ${prefix.length} characters, must be 0..31`, { got: prefix.length });
    w.shortAscii(prefix);
  }
  return w.finish();
}

export function decodeExperimentBody(r: Reader): ExperimentBody {
  const ctx = r.ctx;
  const state = enumName(ctx, 'state', EXPERIMENT_STATES, r.u8('state'));
  const method = enumName(ctx, 'method', ROUND_METHODS, r.u8('method'));
  const fleet = r.shortId('fleet id');
  const dataset = r.shortId('data set name');
  const source = enumName(ctx, 'data source kind', DATA_SOURCE_KINDS, r.u8('data source kind'));
  const numClasses = r.u16('K');
  if (numClasses < 2) fail('E_CODEC_FIELD', `${ctx}: K must be >= 2, got ${numClasses}`, { got: numClasses });
  const featureDim = r.u16('d');
  if (featureDim < numClasses) fail('E_CODEC_FIELD', `${ctx}: d ${featureDim} is below K ${numClasses}`, { got: featureDim });
  const clients = r.u32('clients');
  if (clients < 1 || clients > MAX_EXPERIMENT_CLIENTS) fail('E_CODEC_FIELD', `${ctx}: clients must be 1..${MAX_EXPERIMENT_CLIENTS}, got ${clients}`, { got: clients });
  const alpha = checkAlpha(ctx, r.f64('alpha'));
  const seed = r.u32('seed');
  const cap = checkCap(ctx, r.u32('samples-per-client cap'));
  const mode = enumName(ctx, 'assignment mode', ASSIGNMENT_MODES, r.u8('assignment mode'));
  let assignment: Assignment;
  if (mode === 'list') {
    const n = r.u16('assigned agent count');
    if (n < 1 || n > MAX_ASSIGNED_AGENTS) fail('E_CODEC_FIELD', `${ctx}: assigned agent count must be 1..${MAX_ASSIGNED_AGENTS}, got ${n}`, { got: n });
    const agents: AssignedAgent[] = [];
    for (let i = 0; i < n; i++) {
      const agent = r.shortId('assigned agent id');
      const client = r.u32('client index');
      const family = r.shortId('family', 0);
      agents.push({ agent, client, family: family === '' ? null : family });
    }
    checkEntries(ctx, agents, clients);
    assignment = { mode, agents };
  } else {
    const prefix = r.shortId('agent id prefix', 0);
    if (prefix.length > 31) fail('E_CODEC_FIELD', `${ctx}: agent id prefix has ${prefix.length} characters, must be 0..31`, { got: prefix.length });
    assignment = { mode, prefix };
  }
  r.finish();
  return { state, method, fleet, dataset, source, numClasses, featureDim, clients, alpha, seed, samplesPerClient: cap === 0 ? null : cap, assignment };
}

/** Which client index (and family) the announcement gives `agent`, or null when it does not take part. */
export function assignmentOf(b: Pick<ExperimentBody, 'assignment' | 'clients'>, agent: string): { client: number; family: string | null } | null {
  const a = b.assignment;
  if (a.mode === 'list') {
    const e = a.agents.find((x) => x.agent === agent);
    return e === undefined ? null : { client: e.client, family: e.family };
  }
  if (!agent.startsWith(a.prefix)) return null;
  const n = agent.slice(a.prefix.length);
  if (!/^(0|[1-9][0-9]{0,8})$/.test(n) || Number(n) >= b.clients) return null;
  return { client: Number(n), family: null };
}
