/**
 * `tinyproto export --db AGENT_DB`: an agent's latest checkpoint as a plain inference ONNX model
 * (models/ort/export.ts), optionally evaluated on that agent's own test split.
 *
 * The agent store is opened read-only (no migration, no WAL checkpoint): it may belong to a
 * running agent. The model spec is rebuilt as the agent builds it: family and d from the
 * checkpoint's extra (agent.ts saves them with the weights), input shape and K from the cached
 * shard's metadata, the initialisation seed as the Learner derives it. The test split is the
 * agent's cached one, turned into floats by the agent's own loader (agent/shard.ts).
 */
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_DEFAULTS, type AgentConfig } from '../agent/config.ts';
import { loadAgentData } from '../agent/shard.ts';
import { blobToInt32, decodeState, parseShardMeta } from '../agent/store-codec.ts';
import { AGENT_SCHEMA_VERSION } from '../agent/store-schema.ts';
import type { AgentStore, ShardMeta, ShardPart, StoredShard } from '../agent/store-types.ts';
import type { ModelSpec, ModelState } from '../models/engine.ts';
import { buildInferGraph } from '../models/ort/graphs.ts';
import { evaluateOnnx, exportInferenceOnnx } from '../models/ort/export.ts';
import { isFamily } from '../models/zoo-info.ts';
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';
import { silentLogger } from '../common/logger.ts';
import { Rng } from '../common/rng.ts';
import Database from 'better-sqlite3';
import { fromBlob, openStoreReadOnly, parseJsonObject, storeError, type SqliteDb } from '../storage/sqlite.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { bytes, pct } from '../common/table.ts';

export const EXPORT_HELP = `Usage: tinyproto export --db AGENT_DB [--experiment ID] [--out FILE] [--eval]

Writes an agent's latest checkpoint as a plain inference ONNX model (weights baked in, batch
norm in inference mode): input x [N,h,w,c] float32 NHWC, normalised as tinyproto's data loaders
do; outputs features [N,d] and logits [N,K]. The agent store is only read.

  --db FILE           the agent's SQLite store (tinyproto agent --store)
  --experiment ID     experiment whose checkpoint to export (default: the only one in the store)
  --out FILE          ONNX file to write (default <family>-round<R>.onnx next to the store)
  --eval              evaluate the exported file on the agent's own test split (its cached
                      shard) and compare with the accuracy the agent recorded for that round
  -h, --help
`;

export interface ExportOptions {
  readonly db: string;
  readonly experiment?: string;
  readonly out?: string;
  readonly evaluate?: boolean;
}

export interface ExportEvaluation {
  readonly accuracy: number;
  readonly correct: number;
  readonly count: number;
  readonly imagesPerSecond: number;
  /** Head accuracy the agent recorded for the exported round, when it did. */
  readonly recorded: { readonly accuracy: number; readonly testCount: number; readonly source: 'telemetry' | 'evaluation record' } | null;
}

export interface ExportResult {
  readonly db: string;
  readonly experiment: string;
  readonly round: number;
  readonly spec: ModelSpec;
  /** Where d came from: the checkpoint's extra, or (checkpoints of older agents) the fc layer's shape. */
  readonly featureDimSource: 'checkpoint' | 'weights';
  readonly shard: ShardMeta;
  readonly paramCount: number;
  readonly file: string;
  readonly fileBytes: number;
  readonly evaluation: ExportEvaluation | null;
}

// ---------------------------------------------------------------------------------------------
// read-only access to an agent store

/** Opens an agent store read-only; E_CONFIG when the file is missing, E_STORE when it is not an agent store. */
function openReadOnly(path: string): SqliteDb {
  if (!existsSync(path)) throw new TinyProtoError('E_CONFIG', `${path}: no such file (give the agent's SQLite store, as in tinyproto agent --store)`);
  if (statSync(path).isDirectory()) throw new TinyProtoError('E_CONFIG', `${path}: is a directory, not an agent store`);
  return openStoreReadOnly(path, 'agent', AGENT_SCHEMA_VERSION, (message, cause) => storeError(path, message, cause));
}

/** SQLite failures while reading become E_STORE naming the file. */
function reading<T>(path: string, what: string, fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    if (e instanceof TinyProtoError) throw e;
    if (e instanceof Database.SqliteError) throw storeError(path, `${what}: ${e.message}`, e);
    throw e;
  }
}

interface CheckpointSummary {
  readonly experiment: string;
  readonly round: number;
}

function checkpointSummaries(db: SqliteDb, path: string): CheckpointSummary[] {
  return reading(path, 'listing checkpoints', () =>
    db.prepare('SELECT experiment, max(round) AS round FROM checkpoint GROUP BY experiment ORDER BY max(saved_at) DESC, experiment').all() as CheckpointSummary[],
  );
}

/** Every experiment the store has heard of (checkpoints, masks, messages, progress). */
function experimentsSeen(db: SqliteDb, path: string): string[] {
  return reading(path, 'listing experiments', () =>
    (
      db
        .prepare(
          `SELECT experiment FROM checkpoint UNION SELECT experiment FROM progress UNION SELECT experiment FROM masks
           UNION SELECT experiment FROM round_msg UNION SELECT experiment FROM global_msg ORDER BY experiment`,
        )
        .all() as { experiment: string }[]
    ).map((r) => r.experiment),
  );
}

function pickExperiment(db: SqliteDb, path: string, wanted: string | undefined): CheckpointSummary {
  const list = checkpointSummaries(db, path);
  const listing = list.map((c) => `${c.experiment} (round ${c.round})`).join(', ');
  if (wanted !== undefined) {
    const hit = list.find((c) => c.experiment === wanted);
    if (hit) return hit;
    if (list.length > 0) throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint of experiment "${wanted}"; checkpoints exist for ${listing}`);
  } else {
    if (list.length === 1) return list[0]!;
    if (list.length > 1) throw new TinyProtoError('E_CONFIG', `${path}: several experiments have checkpoints, pick one with --experiment: ${listing}`);
  }
  const seen = experimentsSeen(db, path);
  const also = seen.length > 0 ? ` (experiments seen: ${seen.join(', ')})` : '';
  throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint in this agent store${also}; the agent saves one after each round it trains`);
}

function loadCheckpoint(db: SqliteDb, path: string, experiment: string): { round: number; state: ModelState; extra: Record<string, unknown> } {
  return reading(path, 'reading the checkpoint', () => {
    const row = db.prepare('SELECT round, manifest, data, extra FROM checkpoint WHERE experiment = ? ORDER BY round DESC LIMIT 1').get(experiment) as
      | { round: number; manifest: string; data: unknown; extra: string }
      | undefined;
    if (row === undefined) throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint of experiment "${experiment}"`);
    try {
      return {
        round: row.round,
        state: decodeState(path, row.manifest, fromBlob(row.data, path, 'checkpoint data')),
        extra: parseJsonObject(row.extra, path, 'checkpoint extra'),
      };
    } catch (e) {
      if (isTinyProtoError(e, 'E_STORE')) {
        throw new TinyProtoError('E_STORE', `corrupt checkpoint (experiment ${experiment}, round ${row.round}): ${e.message}`, e.details);
      }
      throw e;
    }
  });
}

/** The cached shard's metadata, and its test part (the train part is left empty: not needed). */
function loadShardForEval(db: SqliteDb, path: string, withTest: boolean): StoredShard {
  return reading(path, 'reading the cached shard', () => {
    const row = db.prepare('SELECT meta_json, test_count, test_labels FROM shard WHERE id = 1').get() as
      | { meta_json: string; test_count: number; test_labels: unknown }
      | undefined;
    if (row === undefined) {
      throw storeError(path, 'no cached data shard: the agent caches it at its first start; without it the input shape and classes are unknown');
    }
    const meta = parseShardMeta(path, row.meta_json);
    const empty: ShardPart = { pixels: new Uint8Array(0), labels: new Int32Array(0) };
    if (!withTest) return { meta, train: empty, test: empty };
    const per = meta.height * meta.width * meta.channels;
    const chunks = db.prepare("SELECT seq, bytes FROM shard_chunk WHERE shard_id = 1 AND part = 'test' ORDER BY seq").all() as { seq: number; bytes: unknown }[];
    const expected = row.test_count * per;
    const pixels = new Uint8Array(expected);
    let off = 0;
    chunks.forEach((c, i) => {
      if (c.seq !== i) throw storeError(path, `shard test: chunk ${i} missing`);
      const b = fromBlob(c.bytes, path, `shard test chunk ${i}`);
      if (off + b.byteLength > expected) throw storeError(path, `shard test: more pixel bytes than ${row.test_count} images`);
      pixels.set(b, off);
      off += b.byteLength;
    });
    if (off !== expected) throw storeError(path, `shard test: ${off} pixel bytes stored, expected ${expected}`);
    const labels = blobToInt32(fromBlob(row.test_labels, path, 'shard test labels'), row.test_count, path, 'shard test labels');
    for (const l of labels) if (l < 0 || l >= meta.numClasses) throw storeError(path, `shard test: label ${l} not in [0, ${meta.numClasses})`);
    return { meta, train: empty, test: { pixels, labels } };
  });
}

function tableExists(db: SqliteDb, name: string): boolean {
  return db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The head accuracy the agent recorded for (experiment, round): its telemetry, else its evaluation record. */
function recordedAccuracy(db: SqliteDb, path: string, experiment: string, round: number): ExportEvaluation['recorded'] {
  return reading(path, 'reading telemetry', () => {
    if (tableExists(db, 'telemetry')) {
      const row = db.prepare('SELECT json FROM telemetry WHERE experiment = ? AND round = ?').get(experiment, round) as { json: string } | undefined;
      if (row !== undefined) {
        try {
          const t = JSON.parse(row.json) as RoundTelemetry;
          if (t.accuracy && typeof t.accuracy.head === 'number') return { accuracy: t.accuracy.head, testCount: t.accuracy.testCount, source: 'telemetry' };
        } catch {
          // an unreadable record is as good as none
        }
      }
    }
    const ev = db.prepare('SELECT value FROM meta WHERE key = ?').get(`eval:${experiment}:${round}`) as { value: string } | undefined;
    if (ev !== undefined) {
      try {
        const r = JSON.parse(ev.value) as { accuracyHead?: unknown; testCount?: unknown };
        if (typeof r.accuracyHead === 'number' && typeof r.testCount === 'number') return { accuracy: r.accuracyHead, testCount: r.testCount, source: 'evaluation record' };
      } catch {
        // as above
      }
    }
    return null;
  });
}

// ---------------------------------------------------------------------------------------------
// the spec, as the agent built its model

function specFor(path: string, experiment: string, round: number, extra: Record<string, unknown>, state: ModelState, meta: ShardMeta): { spec: ModelSpec; featureDimSource: 'checkpoint' | 'weights' } {
  const where = `${path}: checkpoint of experiment ${experiment}, round ${round}`;
  const family = extra['family'];
  if (typeof family !== 'string' || !isFamily(family)) throw storeError(path, `corrupt checkpoint (experiment ${experiment}, round ${round}): no model family recorded (extra ${JSON.stringify(extra)})`);
  let featureDim: number;
  let featureDimSource: 'checkpoint' | 'weights';
  const d = extra['featureDim'];
  if (d !== undefined) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d <= 0) throw storeError(path, `corrupt checkpoint (experiment ${experiment}, round ${round}): bad featureDim ${JSON.stringify(d)}`);
    featureDim = d;
    featureDimSource = 'checkpoint';
  } else {
    // agents older than the featureDim entry: d is the width of the fc layer that ends the backbone
    const fc = state['fc.weight'];
    if (fc === undefined || fc.shape.length !== 2) throw new TinyProtoError('E_SHAPE', `${where}: no featureDim recorded and no fc.weight [c, d] to read it from`);
    featureDim = fc.shape[1]!;
    featureDimSource = 'weights';
  }
  return {
    spec: {
      family,
      inputShape: [meta.height, meta.width, meta.channels],
      featureDim,
      numClasses: meta.numClasses,
      // as learner/learner.ts derives it (the agent's seed is the shard's: loadAgentData checks it)
      seed: Rng.derive(meta.seed, `model:${meta.client}`).nextUint32(),
    },
    featureDimSource,
  };
}

function paramCount(spec: ModelSpec): number {
  let n = 0;
  for (const p of buildInferGraph(spec, null).params) if (p.trainable) n += p.shape.reduce((a, b) => a * b, 1);
  return n;
}

/** The agent's test split as floats, through the agent's own loader, from the read-only shard. */
function agentTestSplit(path: string, shard: StoredShard): { x: Float32Array; y: Int32Array } {
  const m = shard.meta;
  const cfg: AgentConfig = { ...AGENT_DEFAULTS, client: m.client, clients: m.clients, alpha: m.alpha, seed: m.seed, samplesPerClient: m.samplesPerClient, store: path };
  const source: Pick<AgentStore, 'path' | 'loadShard' | 'saveShard'> = {
    path,
    loadShard: () => shard,
    saveShard: () => {
      throw storeError(path, 'read-only');
    },
  };
  const data = loadAgentData(cfg, source as AgentStore, silentLogger);
  return { x: data.testX, y: data.testY };
}

// ---------------------------------------------------------------------------------------------

/** Exports (and optionally evaluates) an agent's latest checkpoint; see EXPORT_HELP. */
export async function exportAgentModel(opts: ExportOptions): Promise<ExportResult> {
  const path = opts.db;
  const db = openReadOnly(path);
  let experiment: string;
  let ckpt: { round: number; state: ModelState; extra: Record<string, unknown> };
  let shard: StoredShard;
  let recorded: ExportEvaluation['recorded'] = null;
  try {
    experiment = pickExperiment(db, path, opts.experiment).experiment;
    ckpt = loadCheckpoint(db, path, experiment);
    shard = loadShardForEval(db, path, opts.evaluate === true);
    if (opts.evaluate) recorded = recordedAccuracy(db, path, experiment, ckpt.round);
  } finally {
    db.close();
  }
  const { round, state } = ckpt;
  const { spec, featureDimSource } = specFor(path, experiment, round, ckpt.extra, state, shard.meta);
  for (const [name, t] of Object.entries(state)) {
    if (!t.data.every(Number.isFinite)) throw new TinyProtoError('E_NON_FINITE', `${path}: checkpoint of experiment ${experiment}, round ${round}: ${name} has non-finite values`);
  }
  let model: Uint8Array;
  try {
    model = exportInferenceOnnx(spec, state);
  } catch (e) {
    if (isTinyProtoError(e, 'E_SHAPE')) {
      const [h, w, c] = spec.inputShape;
      throw new TinyProtoError(
        'E_SHAPE',
        `${path}: checkpoint of experiment ${experiment}, round ${round} does not fit ${spec.family} (input ${h}x${w}x${c}, d ${spec.featureDim}, K ${spec.numClasses}): ${e.message}`,
        e.details,
      );
    }
    throw e;
  }
  const file = resolve(opts.out ?? join(dirname(path), `${spec.family}-round${round}.onnx`));
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, model);
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${file}: cannot write the model (${e instanceof Error ? e.message : String(e)})`);
  }
  let evaluation: ExportEvaluation | null = null;
  if (opts.evaluate) {
    const { x, y } = agentTestSplit(path, shard);
    const ev = await evaluateOnnx(model, spec.inputShape, x, y);
    evaluation = { accuracy: ev.accuracy, correct: Math.round(ev.accuracy * ev.count), count: ev.count, imagesPerSecond: ev.imagesPerSecond, recorded };
  }
  return { db: path, experiment, round, spec, featureDimSource, shard: shard.meta, paramCount: paramCount(spec), file, fileBytes: model.byteLength, evaluation };
}

export async function runExport(argv: string[], out: (s: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      db: { type: 'string' },
      experiment: { type: 'string' },
      out: { type: 'string', short: 'o' },
      eval: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    out(EXPORT_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new TinyProtoError('E_CONFIG', `unexpected argument "${positionals[0]}"; give the store with --db FILE; see --help`);
  if (!values.db) throw new TinyProtoError('E_CONFIG', '--db AGENT_DB is required; see --help');
  const r = await exportAgentModel({
    db: values.db,
    ...(values.experiment !== undefined ? { experiment: values.experiment } : {}),
    ...(values.out !== undefined ? { out: values.out } : {}),
    evaluate: values.eval === true,
  });
  const s = r.spec;
  const m = r.shard;
  out(`experiment ${r.experiment}, round ${r.round} (client ${m.client} of ${m.clients}, ${m.dataset})`);
  out(`family     ${s.family}: input ${s.inputShape.join('x')}, d ${s.featureDim}${r.featureDimSource === 'weights' ? ' (from the weights)' : ''}, K ${s.numClasses}`);
  out(`params     ${r.paramCount.toLocaleString('en-US')}`);
  out(`wrote      ${r.file} (${bytes(r.fileBytes)})`);
  const ev = r.evaluation;
  if (ev) {
    if (ev.count === 0) {
      out('eval       the agent\'s test split is empty: nothing to evaluate');
    } else {
      out(`eval       ${ev.correct}/${ev.count} of the agent's test split: accuracy ${pct(ev.accuracy)} (exported ONNX), ${Math.round(ev.imagesPerSecond).toLocaleString('en-US')} images/s`);
      const rec = ev.recorded;
      out(
        rec
          ? `agent      accuracy ${pct(rec.accuracy)} (head, recorded in its ${rec.source} for round ${r.round}, ${rec.testCount} images)`
          : `agent      no accuracy recorded for round ${r.round} (it evaluates when the round's global prototypes arrive)`,
      );
    }
  }
  return 0;
}
