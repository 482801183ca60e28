/**
 * The aggregator's start-up against its store (create or resume the experiment, the latest
 * global prototypes) and the intake of STATUS and TELEMETRY messages into batch entries.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { canonicalJson } from '../storage/sqlite.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { decodeGlobal, decodeMasks, decodeStatus, decodeTelemetry, encodeMasks, telemetryRecord } from '../wire/codec.ts';
import type { ExperimentConfig } from './config.ts';
import { checkSender } from './intake.ts';
import type { PendingStatus, PendingTelemetry } from './batch.ts';
import type { AggregatorStore, ExperimentRecord } from './store.ts';
import type { AggregatorTransport } from './aggregator-types.ts';

/**
 * Settings added after stores were written, each with the value that reproduces what those
 * stores ran: a stored configuration without the field resumes only with that value.
 */
const LATER_FIELDS: Readonly<Record<string, { readonly value: unknown; readonly flag: string }>> = Object.freeze({
  muFrom: { value: 'configured', flag: '--mu-from configured' },
  staleRounds: { value: 0, flag: '--stale-rounds 0' },
});

export interface ConfigDifference {
  readonly field: string;
  readonly stored: unknown;
  readonly given: unknown;
}

/** The first field (sorted) where `given` differs from `stored`, LATER_FIELDS counting as above; null when they agree. */
export function configDifference(stored: Readonly<Record<string, unknown>>, given: Readonly<Record<string, unknown>>): ConfigDifference | null {
  for (const field of [...new Set([...Object.keys(stored), ...Object.keys(given)])].sort()) {
    const later = LATER_FIELDS[field];
    const s = !Object.hasOwn(stored, field) && later ? later.value : stored[field];
    if (canonicalJson(s ?? null) !== canonicalJson(given[field] ?? null)) return { field, stored: stored[field], given: given[field] };
  }
  return null;
}

function differenceText(d: ConfigDifference): string {
  const later = LATER_FIELDS[d.field];
  const show = (v: unknown): string => (v === undefined ? 'absent' : JSON.stringify(v));
  const hint = later && d.stored === undefined ? ` (the store was written before ${d.field} existed; resume it with ${later.flag})` : '';
  return `${d.field}: stored ${show(d.stored)}, given ${show(d.given)}${hint}`;
}

/**
 * Creates the experiment in the store, or resumes it when the stored configuration is the same
 * (E_CONFIG naming the first field that differs otherwise); checks the stored masks agree with
 * `masks` (E_MASK).
 */
export function openExperiment(store: AggregatorStore, c: ExperimentConfig, masks: ClassMasks | null, mu: number | null, sender: string, logger: Logger): ExperimentRecord {
  const configJson = { ...c, agents: [...c.agents], mu } as Record<string, unknown>;
  let exp = store.getExperiment(c.experiment);
  let diff: ConfigDifference | null = null;
  if (exp === null) {
    const masksBytes = masks ? encodeMasks({ experiment: c.experiment, sender, round: 0 }, { mode: 'params', params: masks.params }) : null;
    store.createExperiment(c.experiment, configJson, masksBytes);
    exp = store.getExperiment(c.experiment)!;
    logger.info('experiment created', { experiment: c.experiment, method: c.method, mu });
  } else if ((diff = configDifference(exp.config as Record<string, unknown>, configJson)) !== null) {
    throw new TinyProtoError('E_CONFIG', `experiment "${c.experiment}" already exists in the store with a different configuration (${differenceText(diff)}); use a new experiment id or the same settings`, {
      stored: exp.config,
      field: diff.field,
    });
  } else {
    logger.info('experiment resumed', { experiment: c.experiment, round: exp.currentRound, status: exp.status });
  }
  if (exp.masksBytes) {
    // what agents receive is what the store holds; check it agrees with this process's masks
    const m = decodeMasks(exp.masksBytes, { experiment: c.experiment, K: c.numClasses, d: c.featureDim });
    if (masks && m.body.masks.s !== masks.s) throw new TinyProtoError('E_MASK', 'stored masks disagree with the configuration');
  }
  return exp;
}

/** The global prototypes of the latest closed round that has them (empty before any). */
export function latestGlobalPrototypes(store: AggregatorStore, c: ExperimentConfig, valuesPerClass: number): Map<number, Float32Array> {
  const latest = store.latestGlobal(c.experiment);
  if (!latest) return new Map();
  const g = decodeGlobal(latest.bytes, { experiment: c.experiment, K: c.numClasses, d: c.featureDim, s: valuesPerClass });
  return new Map(g.body.prototypes.map((p) => [p.classId, p.values]));
}

/**
 * Per class, the rounds in a row without a contributor before `currentRound` (ExperimentSetup
 * staleRounds), rebuilt from the stored GLOBAL messages, which carry each class's contributor
 * count (a dropped class is absent: no contributor). Rounds without uploads age nothing; ages
 * are counted up to staleRounds, which drops a class as the full count would. All zeros when
 * staleRounds is 0 (nothing is ever dropped).
 */
export function classAges(store: AggregatorStore, c: ExperimentConfig, valuesPerClass: number, currentRound: number): Int32Array {
  const K = c.numClasses;
  const ages = new Int32Array(K);
  if (c.staleRounds === 0) return ages;
  const open = new Set(Array.from({ length: K }, (_, j) => j));
  let counted = 0;
  for (let r = currentRound - 1; r >= 1 && open.size > 0 && counted < c.staleRounds; r--) {
    const row = store.getRound(c.experiment, r);
    if (row === null || row.status !== 'closed' || row.globalBytes === null) continue;
    // the close summary's count includes the agents summed by relays (row.uploads: direct ones only)
    const uploads = typeof row.summary?.['uploads'] === 'number' ? row.summary['uploads'] : row.uploads;
    if (uploads === 0) continue;
    counted++;
    const contributors = new Map(decodeGlobal(row.globalBytes, { experiment: c.experiment, K, d: c.featureDim, s: valuesPerClass }).body.prototypes.map((p) => [p.classId, p.contributors]));
    for (const j of [...open]) {
      if ((contributors.get(j) ?? 0) > 0) open.delete(j);
      else ages[j]!++;
    }
  }
  return ages;
}

/** A STATUS checked (codec, sender = topic) into its batch entry; throws a TinyProtoError. */
export function statusEntry(experiment: string, agent: string, bytes: Uint8Array, now: number): PendingStatus {
  const s = decodeStatus(bytes, { experiment });
  checkSender(s.header.sender, agent);
  return { agent, fields: { state: s.body.state, lastSeen: now, lastRound: s.body.lastRound, family: s.body.modelFamily }, body: s.body };
}

/** A TELEMETRY checked into its batch entry; throws a TinyProtoError. */
export function telemetryEntry(experiment: string, agent: string, bytes: Uint8Array, now: number): PendingTelemetry {
  const t = decodeTelemetry(bytes, { experiment });
  checkSender(t.header.sender, agent);
  const record = telemetryRecord(t);
  return { agent, round: record.round, record, at: now };
}

/**
 * After a reconnection: a broker that restarted without its state has lost the retained masks,
 * round and global prototypes; publish them again (agents ignore what they already have).
 */
export async function republishRetained(store: AggregatorStore, transport: AggregatorTransport, experiment: string, round: number, logger: Logger): Promise<void> {
  const exp = store.getExperiment(experiment);
  if (exp?.masksBytes) await transport.publishRetained('masks', exp.masksBytes);
  const latest = store.latestGlobal(experiment);
  if (latest) await transport.publishRetained('global', latest.bytes);
  const row = round > 0 ? store.getRound(experiment, round) : null;
  if (row && row.status === 'open') await transport.publishRetained('round', row.announcementBytes);
  logger.info('retained messages published again after reconnecting', { round });
}
