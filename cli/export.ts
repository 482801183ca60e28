/**
 * `tinyproto export --store AGENT_DB`: an agent's latest checkpoint as a plain inference ONNX model
 * (models/ort/export.ts), optionally evaluated on that agent's own test split.
 *
 * The agent store is opened read-only (no migration, no WAL checkpoint): it may belong to a
 * running agent. The model spec is rebuilt as the agent builds it: family and d from the
 * checkpoint's extra (agent.ts saves them with the weights), input shape and K from the cached
 * shard's metadata, the initialisation seed as the Learner derives it. The test split is the
 * agent's cached one, turned into floats by the agent's own loader (agent/shard.ts).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AGENT_DEFAULTS, type AgentConfig } from '../agent/config.ts';
import { loadAgentData } from '../agent/shard.ts';
import { openAgentStoreReadOnly, type AgentStoreView, type CheckpointSummary } from '../agent/store-view.ts';
import type { AgentStore, ShardMeta, StoredCheckpoint, StoredShard } from '../agent/store-types.ts';
import type { ModelSpec, ModelState } from '../models/engine.ts';
import { buildInferGraph } from '../models/ort/graphs.ts';
import { evaluateOnnx, exportInferenceOnnx } from '../models/ort/export.ts';
import { isFamily } from '../models/zoo-info.ts';
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';
import { silentLogger, type Logger } from '../common/logger.ts';
import { Rng } from '../common/rng.ts';
import { storeError } from '../storage/sqlite.ts';
import { bytes, pct } from '../common/table.ts';

export const EXPORT_HELP = `Usage: tinyproto export --store AGENT_DB [--experiment ID] [--out FILE] [--eval]

Writes an agent's latest checkpoint as a plain inference ONNX model (weights baked in, batch
norm in inference mode): input x [N,h,w,c] float32 NHWC, normalised as tinyproto's data loaders
do; outputs features [N,d] and logits [N,K]. The agent store is only read.

  --store FILE        the agent's SQLite store, as given to tinyproto agent --store (required)
  --db FILE           deprecated alias of --store (warns)
  --experiment ID     experiment whose checkpoint to export (default: the only one in the store)
  --out FILE          ONNX file to write (default <family>-round<R>.onnx next to the store)
  --eval              evaluate the exported file on the agent's own test split (its cached
                      shard) and compare with the accuracy the agent recorded for that round
                      (default off)
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
// what the export reads from the agent store (through its read-only view)

function pickExperiment(view: AgentStoreView, wanted: string | undefined): CheckpointSummary {
  const path = view.path;
  const list = view.checkpointSummaries();
  const listing = list.map((c) => `${c.experiment} (round ${c.round})`).join(', ');
  if (wanted !== undefined) {
    const hit = list.find((c) => c.experiment === wanted);
    if (hit) return hit;
    if (list.length > 0) throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint of experiment "${wanted}"; checkpoints exist for ${listing}`);
  } else {
    if (list.length === 1) return list[0]!;
    if (list.length > 1) throw new TinyProtoError('E_CONFIG', `${path}: several experiments have checkpoints, pick one with --experiment: ${listing}`);
  }
  const seen = view.experimentsSeen();
  const also = seen.length > 0 ? ` (experiments seen: ${seen.join(', ')})` : '';
  throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint in this agent store${also}; the agent saves one after each round it trains`);
}

/** The head accuracy the agent recorded for (experiment, round): its telemetry, else its evaluation record. */
function recordedAccuracy(view: AgentStoreView, experiment: string, round: number): ExportEvaluation['recorded'] {
  const t = view.telemetryOf(experiment, round);
  if (t?.accuracy && typeof t.accuracy.head === 'number') return { accuracy: t.accuracy.head, testCount: t.accuracy.testCount, source: 'telemetry' };
  const ev = view.evaluation(experiment, round);
  return ev ? { accuracy: ev.accuracyHead, testCount: ev.testCount, source: 'evaluation record' } : null;
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
  const view = openAgentStoreReadOnly(path);
  let experiment: string;
  let ckpt: StoredCheckpoint;
  let shard: StoredShard;
  let recorded: ExportEvaluation['recorded'] = null;
  try {
    experiment = pickExperiment(view, opts.experiment).experiment;
    const latest = view.latestCheckpoint(experiment);
    if (latest === null) throw new TinyProtoError('E_CONFIG', `${path}: no checkpoint of experiment "${experiment}"`);
    ckpt = latest;
    const stored = view.loadShard(opts.evaluate === true ? 'test' : 'meta');
    if (stored === null) throw storeError(path, 'no cached data shard: the agent caches it at its first start; without it the input shape and classes are unknown');
    shard = stored;
    if (opts.evaluate) recorded = recordedAccuracy(view, experiment, ckpt.round);
  } finally {
    view.close();
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

export async function runExport(argv: string[], out: (s: string) => void, logger: Pick<Logger, 'warn'> = silentLogger): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: true,
    options: {
      store: { type: 'string' },
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
  if (positionals.length > 0) throw new TinyProtoError('E_CONFIG', `unexpected argument "${positionals[0]}"; give the store with --store FILE; see --help`);
  if (values.db !== undefined && values.store !== undefined) throw new TinyProtoError('E_CONFIG', '--db is the deprecated alias of --store: give only --store');
  if (values.db !== undefined) logger.warn('export --db is deprecated: use --store (the same flag as agent and server)');
  const store = values.store ?? values.db;
  if (!store) throw new TinyProtoError('E_CONFIG', '--store AGENT_DB is required; see --help');
  const r = await exportAgentModel({
    db: store,
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
