/**
 * The agent's private data: on the first start it carves its shard out of the data set (the same
 * Dirichlet partition as the simulation) and caches it in SQLite; later starts read SQLite only.
 */
import { TinyProtoError } from '../protocol/errors.ts';
import type { Logger } from '../protocol/logger.ts';
import { DEFAULT_DATA_DIR, SHARD_DEFAULTS, gatherLabels, gatherPixels, loadDataset, makeShards, toFloatBatch } from '../data/index.ts';
import type { ImageDataset } from '../data/types.ts';
import type { AgentStore, ShardMeta, ShardPart } from './store.ts';
import type { AgentConfig } from './config.ts';

export interface AgentData {
  readonly meta: ShardMeta;
  readonly inputShape: [number, number, number];
  readonly trainX: Float32Array;
  readonly trainY: Int32Array;
  readonly testX: Float32Array;
  readonly testY: Int32Array;
  /** True when this start read the SQLite cache. */
  readonly fromCache: boolean;
}

function partView(meta: ShardMeta, part: ShardPart): ImageDataset {
  return {
    name: meta.dataset,
    count: part.labels.length,
    height: meta.height,
    width: meta.width,
    channels: meta.channels,
    numClasses: meta.numClasses,
    pixels: part.pixels,
    labels: part.labels,
    mean: meta.mean,
    std: meta.std,
  };
}

function toFloat(meta: ShardMeta, part: ShardPart): { x: Float32Array; y: Int32Array } {
  const view = partView(meta, part);
  const all = Int32Array.from({ length: view.count }, (_, i) => i);
  return { x: toFloatBatch(view, all), y: part.labels };
}

/** Loads the shard from the store, or carves it from the data set and stores it. */
export function loadAgentData(cfg: AgentConfig, store: AgentStore, logger: Logger): AgentData {
  let shard = store.loadShard();
  let fromCache = true;
  if (shard) {
    const m = shard.meta;
    const mismatch = m.client !== cfg.client || m.clients !== cfg.clients || m.alpha !== cfg.alpha || m.seed !== cfg.seed || m.samplesPerClient !== cfg.samplesPerClient;
    if (mismatch) {
      throw new TinyProtoError(
        'E_CONFIG',
        `${store.path}: holds the shard of client ${m.client}/${m.clients} (alpha ${m.alpha}, seed ${m.seed}, cap ${m.samplesPerClient ?? 'none'}); ` +
          `this agent is configured as client ${cfg.client}/${cfg.clients} (alpha ${cfg.alpha}, seed ${cfg.seed}, cap ${cfg.samplesPerClient ?? 'none'}): use a new store file`,
      );
    }
  } else {
    fromCache = false;
    const dir = cfg.dataDir ?? DEFAULT_DATA_DIR;
    const ds = loadDataset(dir, 'all');
    const shards = makeShards(ds, {
      clients: cfg.clients,
      alpha: cfg.alpha,
      seed: cfg.seed,
      minPerClient: SHARD_DEFAULTS.minPerClient,
      trainFraction: SHARD_DEFAULTS.trainFraction,
      ...(cfg.samplesPerClient === null ? {} : { samplesPerClient: cfg.samplesPerClient }),
    });
    const own = shards[cfg.client]!;
    const meta: ShardMeta = {
      dataset: ds.name,
      source: dir,
      height: ds.height,
      width: ds.width,
      channels: ds.channels,
      numClasses: ds.numClasses,
      mean: [...ds.mean],
      std: [...ds.std],
      client: cfg.client,
      clients: cfg.clients,
      alpha: cfg.alpha,
      seed: cfg.seed,
      samplesPerClient: cfg.samplesPerClient,
    };
    const train = { pixels: gatherPixels(ds, own.train), labels: gatherLabels(ds, own.train) };
    const test = { pixels: gatherPixels(ds, own.test), labels: gatherLabels(ds, own.test) };
    store.saveShard(meta, train, test);
    shard = { meta, train, test };
    logger.info('data shard cached in the store', { dataset: ds.name, train: own.train.length, test: own.test.length, store: store.path });
  }
  const train = toFloat(shard.meta, shard.train);
  const test = toFloat(shard.meta, shard.test);
  return {
    meta: shard.meta,
    inputShape: [shard.meta.height, shard.meta.width, shard.meta.channels],
    trainX: train.x,
    trainY: train.y,
    testX: test.x,
    testY: test.y,
    fromCache,
  };
}
