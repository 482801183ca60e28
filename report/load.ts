/**
 * Loaders: a `tinyproto simulate --json` result, or an aggregator store (every experiment in
 * it), into RunData. The store is opened read-only and never migrated, so a report can be made
 * while the aggregator runs and never changes the benchmark's file.
 */
import { openSync, readSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { TinyProtoError } from '../common/errors.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { openAggregatorStoreReadOnly } from '../aggregator/store-view.ts';
import { readAgentEvaluations } from '../fleet/evaluations.ts';
import type { AgentAccuracy, RunData, RunParticipation, RunRound } from './model.ts';
import { PARTICIPATION_FILE } from '../fleet/participation.ts';
import { recordedScores, weightedAccuracy } from '../learner/eval.ts';

const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1');

function configError(path: string, message: string): TinyProtoError {
  return new TinyProtoError('E_CONFIG', `${path}: ${message}`, { path });
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/** Checks the fields the report reads; throws E_CONFIG naming the file and the record. */
function checkTelemetry(v: unknown, path: string, where: string): RoundTelemetry {
  const bad = (what: string): never => {
    throw configError(path, `${where}: malformed telemetry record (${what})`);
  };
  if (!isObj(v)) return bad('not an object');
  if (typeof v['agent'] !== 'string' || v['agent'] === '') bad('agent');
  if (num(v['round']) === null) bad('round');
  const phases = v['phases'];
  if (!isObj(phases)) return bad('phases');
  for (const k of ['dataLoad', 'train', 'prototypes', 'encode', 'upload', 'waitGlobal', 'evaluate', 'round']) {
    if (num(phases[k]) === null) bad(`phases.${k}`);
  }
  const memory = v['memory'];
  if (!isObj(memory) || num(memory['peakRssBytes']) === null) bad('memory.peakRssBytes');
  const energy = v['energy'];
  if (!isObj(energy) || num(energy['joules']) === null || typeof energy['source'] !== 'string') bad('energy');
  const acc = v['accuracy'];
  if (acc !== null && acc !== undefined) {
    if (!isObj(acc) || num(acc['head']) === null || num(acc['testCount']) === null) bad('accuracy');
    if (isObj(acc) && acc['prototype'] !== null && num(acc['prototype']) === null) bad('accuracy.prototype');
  }
  return v as unknown as RoundTelemetry;
}

const byRoundAgent = <T extends { round: number; agent: string }>(a: T, b: T): number =>
  a.round - b.round || (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0);

/** Test-count-weighted accuracy per round from telemetry (learner/eval.ts weightedAccuracy: agents that evaluated only). */
function accuracyByRound(telemetry: readonly RoundTelemetry[]): Map<number, { head: number | null; prototype: number | null }> {
  const byRound = new Map<number, ReturnType<typeof recordedScores>[]>();
  for (const t of telemetry) {
    const list = byRound.get(t.round) ?? [];
    list.push(recordedScores(t.accuracy));
    byRound.set(t.round, list);
  }
  const out = new Map<number, { head: number | null; prototype: number | null }>();
  for (const [r, list] of byRound) {
    const head = weightedAccuracy(list.map((s) => s.head));
    if (head !== null) out.set(r, { head, prototype: weightedAccuracy(list.map((s) => s.prototype)) });
  }
  return out;
}

function perAgentFromTelemetry(telemetry: readonly RoundTelemetry[]): AgentAccuracy[] {
  return telemetry
    .filter((t) => t.accuracy !== null)
    .map((t) => ({ agent: t.agent, round: t.round, accuracyHead: t.accuracy!.head, accuracyPrototype: t.accuracy!.prototype }));
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw configError(path, `cannot read (${(e as Error).message})`);
  }
}

/**
 * A `tinyproto simulate --json FILE` result (per-client telemetry under rounds[].clients[].telemetry
 * when present; a round's time is its simulated time when the run simulated links and boards).
 */
export function loadSimulationJson(path: string, text?: string): RunData {
  let doc: unknown;
  try {
    doc = JSON.parse(text ?? readText(path));
  } catch (e) {
    if (e instanceof TinyProtoError) throw e;
    throw configError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(doc) || !isObj(doc['config']) || !Array.isArray(doc['rounds'])) {
    throw configError(path, 'not a simulation result (expected "config" and "rounds" as written by `tinyproto simulate --json`)');
  }
  const method = typeof doc['config']['method'] === 'string' ? doc['config']['method'] : 'unknown';
  const rounds: RunRound[] = [];
  const perAgent: AgentAccuracy[] = [];
  const telemetry: RoundTelemetry[] = [];
  for (const [i, r] of (doc['rounds'] as unknown[]).entries()) {
    if (!isObj(r) || num(r['round']) === null) throw configError(path, `rounds[${i}] is not a round record`);
    const round = r['round'] as number;
    const clients = Array.isArray(r['clients']) ? (r['clients'] as unknown[]) : [];
    const n = clients.length;
    const msgUp = num(r['messageBytesUpPerClient']);
    const msgDown = num(r['messageBytesDownPerClient']);
    rounds.push({
      round,
      accuracyHead: num(r['accuracyHead']),
      accuracyPrototype: num(r['accuracyPrototype']),
      bytesUp: msgUp !== null && n > 0 ? msgUp * n : (num(r['bytesUp']) ?? 0),
      bytesDown: msgDown !== null && n > 0 ? msgDown * n : (num(r['bytesDown']) ?? 0),
      // simulated links and boards (rounds[].timing): the simulated round time, not this machine's
      seconds: (isObj(r['timing']) ? num(r['timing']['seconds']) : null) ?? num(r['seconds']) ?? 0,
    });
    for (const [j, c] of clients.entries()) {
      if (!isObj(c)) throw configError(path, `rounds[${i}].clients[${j}] is not a client record`);
      const t = c['telemetry'] === undefined || c['telemetry'] === null ? null : checkTelemetry(c['telemetry'], path, `rounds[${i}].clients[${j}].telemetry`);
      if (t) telemetry.push(t);
      const head = num(c['accuracyHead']);
      if (head === null) continue;
      perAgent.push({ agent: t?.agent ?? `client-${String(c['client'] ?? j)}`, round, accuracyHead: head, accuracyPrototype: num(c['accuracyPrototype']) });
    }
  }
  rounds.sort((a, b) => a.round - b.round);
  return {
    name: basename(path).replace(/\.json$/i, ''),
    method,
    kind: 'simulate',
    rounds,
    perAgent: perAgent.sort(byRoundAgent),
    telemetry: telemetry.sort(byRoundAgent),
  };
}


/** The churn and participation a fleet wrote next to its aggregator store (fleet/run.ts), when it is of `experiment`. */
function readParticipation(dir: string, experiment: string): RunParticipation | null {
  const path = join(dir, PARTICIPATION_FILE);
  if (!existsSync(path)) return null;
  let doc: unknown;
  try {
    doc = JSON.parse(readText(path));
  } catch (e) {
    if (e instanceof TinyProtoError) throw e;
    throw configError(path, `not valid JSON (${(e as Error).message})`);
  }
  if (!isObj(doc) || typeof doc['experiment'] !== 'string' || !Array.isArray(doc['churn']) || !Array.isArray(doc['participation']) || !Array.isArray(doc['crashes'])) {
    throw configError(path, 'not a fleet participation file (expected "experiment", "churn", "participation" and "crashes")');
  }
  if (doc['experiment'] !== experiment) return null;
  for (const [i, r] of (doc['participation'] as unknown[]).entries()) {
    if (!isObj(r) || num(r['round']) === null || !['selected', 'uploaded', 'offline', 'crashed', 'late', 'duplicates'].every((k) => Array.isArray(r[k]))) throw configError(path, `participation[${i}] is not a round record`);
  }
  return { churn: doc['churn'] as RunParticipation['churn'], rounds: doc['participation'] as RunParticipation['rounds'], crashes: doc['crashes'] as RunParticipation['crashes'] };
}

/**
 * Every experiment of an aggregator store, one RunData each (ordered by creation). Rounds are
 * the closed rounds; accuracy comes from the telemetry table when it holds any for the
 * experiment, else from the agents' own stores next to the file (`<agent>.db`, as a fleet run
 * directory has them), else it is null.
 */
export function loadAggregatorDb(path: string): RunData[] {
  const view = openAggregatorStoreReadOnly(path, (message) => configError(path, message));
  try {
    return view.experiments().map((exp) => {
      const config: Obj = exp.config ?? {}; // an unparsable config only loses the method name
      const agentIds = Array.isArray(config['agents']) ? (config['agents'] as unknown[]).filter((a): a is string => typeof a === 'string') : [];
      const telemetry: RoundTelemetry[] = view
        .telemetry(exp.id)
        .map((row) => checkTelemetry(row.record, path, `experiment ${JSON.stringify(exp.id)} telemetry of ${row.agent} round ${row.round}`));
      const rows = view.closedRounds(exp.id);
      let perAgent = perAgentFromTelemetry(telemetry);
      let byRound = accuracyByRound(telemetry);
      if (telemetry.length === 0 && rows.length > 0) {
        const last = rows[rows.length - 1]!.round;
        const evals = agentIds.flatMap((agent) => {
          try {
            return readAgentEvaluations(join(dirname(path), `${agent}.db`), agent, exp.id, last);
          } catch {
            return []; // an unreadable agent store only loses that agent's accuracy
          }
        });
        perAgent = evals.map((e) => ({ agent: e.agent, round: e.round, accuracyHead: e.accuracyHead, accuracyPrototype: e.accuracyPrototype })).sort(byRoundAgent);
        byRound = accuracyByRound(
          evals.map((e) => ({ round: e.round, accuracy: { head: e.accuracyHead, prototype: e.accuracyPrototype, testCount: e.testCount } }) as unknown as RoundTelemetry),
        );
      }
      const participation = readParticipation(dirname(path), exp.id);
      const rounds: RunRound[] = rows.map((row) => {
        const s: Obj = row.summary ?? {}; // no summary: zeros
        const recipients = agentIds.length || (num(s['selected']) ?? 0);
        const acc = byRound.get(row.round);
        return {
          round: row.round,
          accuracyHead: acc?.head ?? null,
          accuracyPrototype: acc?.prototype ?? null,
          bytesUp: num(s['bytesIn']) ?? 0,
          bytesDown: (num(s['globalBytes']) ?? 0) * recipients,
          seconds: num(s['seconds']) ?? 0,
        };
      });
      return {
        name: exp.id,
        method: typeof config['method'] === 'string' ? config['method'] : 'unknown',
        kind: 'fleet' as const,
        rounds,
        perAgent,
        telemetry,
        ...(participation ? { participation } : {}),
      };
    });
  } catch (e) {
    if (e instanceof TinyProtoError && e.code !== 'E_STORE') throw e;
    throw configError(path, `cannot read the aggregator store (${(e as Error).message})`);
  } finally {
    view.close();
  }
}

/** An aggregator store (SQLite header) or a simulation result (JSON), told apart by content. */
export function loadRun(path: string): RunData[] {
  let head: Buffer;
  try {
    const fd = openSync(path, 'r');
    try {
      head = Buffer.alloc(SQLITE_HEADER.length);
      head = head.subarray(0, readSync(fd, head, 0, head.length, 0));
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw configError(path, `cannot read (${(e as Error).message})`);
  }
  if (head.equals(SQLITE_HEADER)) return loadAggregatorDb(path);
  const text = readText(path);
  if (/^\s*\{/.test(text)) return [loadSimulationJson(path, text)];
  throw configError(path, 'unknown file: neither an aggregator store (SQLite) nor a `tinyproto simulate --json` result');
}

/**
 * Loads every file; run names are made unique within the report (a clash is prefixed with the
 * file's name, then numbered).
 */
export function loadRuns(paths: readonly string[]): RunData[] {
  const loaded = paths.flatMap((p) => loadRun(p).map((run) => ({ run, file: basename(p) })));
  const count = new Map<string, number>();
  for (const { run } of loaded) count.set(run.name, (count.get(run.name) ?? 0) + 1);
  const used = new Set<string>();
  return loaded.map(({ run, file }) => {
    let name = (count.get(run.name) ?? 0) > 1 ? `${file}:${run.name}` : run.name;
    for (let i = 2; used.has(name); i++) name = `${run.name} #${i}`;
    used.add(name);
    return name === run.name ? run : { ...run, name };
  });
}
