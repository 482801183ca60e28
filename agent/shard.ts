/**
 * The agent's private data: on the first start it carves its shard out of the data set (the same
 * Dirichlet partition as the simulation) and caches it in SQLite; later starts read SQLite only.
 */
import { spawnSync } from 'node:child_process';
import { TinyProtoError, type ErrorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { nodeArgsFor, siblingModule } from '../common/runtime.ts';
import { DEFAULT_DATA_DIR, SHARD_DEFAULTS, gatherLabels, gatherPixels, loadDataset, makeShards, parseImageShape, resolveFormat, toFloatBatch } from '../data/index.ts';
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

/** The settings that decide a client's shard. */
export type ShardConfig = Pick<AgentConfig, 'client' | 'clients' | 'alpha' | 'seed' | 'samplesPerClient' | 'dataDir' | 'dataSource' | 'imageShape' | 'imageClasses'>;

/**
 * Carves client `cfg.client`'s shard out of the whole data set (the simulation's partition); an
 * image folder is the board's own data, so all of it (up to the cap) is the shard.
 */
export function carveShard(cfg: ShardConfig): { meta: ShardMeta; train: ShardPart; test: ShardPart } {
  const dir = cfg.dataDir ?? DEFAULT_DATA_DIR;
  const format = resolveFormat(dir, cfg.dataSource ?? 'auto');
  const own = format === 'image-folder';
  const ds = loadDataset(dir, 'all', { source: format, imageShape: parseImageShape(cfg.imageShape ?? '28x28x1'), imageClasses: cfg.imageClasses ?? null });
  const shards = makeShards(ds, {
    clients: own ? 1 : cfg.clients,
    alpha: cfg.alpha,
    seed: cfg.seed,
    minPerClient: SHARD_DEFAULTS.minPerClient,
    trainFraction: SHARD_DEFAULTS.trainFraction,
    ...(cfg.samplesPerClient === null ? {} : { samplesPerClient: cfg.samplesPerClient }),
  });
  const mine = shards[own ? 0 : cfg.client]!;
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
  return {
    meta,
    train: { pixels: gatherPixels(ds, mine.train), labels: gatherLabels(ds, mine.train) },
    test: { pixels: gatherPixels(ds, mine.test), labels: gatherLabels(ds, mine.test) },
  };
}

/**
 * Carves the shard in a short-lived child process that writes it into the store file, so that
 * the long-running agent never holds the whole data set (Fashion-MNIST is 55 MB of pixels, and
 * its decompression briefly needs about three times that): the agent's own footprint stays that
 * of its shard. Returns the stored shard, or null when a child cannot run here (an in-memory
 * store, or no tsx), in which case the caller carves in process. Data errors (missing or
 * corrupt files) come back with their own code and message.
 */
function carveInChild(cfg: ShardConfig, store: AgentStore, logger: Logger): { meta: ShardMeta; train: ShardPart; test: ShardPart } | null {
  if (store.path === ':memory:') return null;
  const script = siblingModule(import.meta.url, './carve-shard');
  const { client, clients, alpha, seed, samplesPerClient, dataDir, dataSource, imageShape, imageClasses } = cfg;
  const args = JSON.stringify({ client, clients, alpha, seed, samplesPerClient, dataDir, dataSource, imageShape, imageClasses, store: store.path });
  // compiled: plain node; from sources: tsx resolved from this package, not from the working directory
  const r = spawnSync(process.execPath, [...nodeArgsFor(script), args], { encoding: 'utf8', timeout: 600_000 });
  if (r.error !== undefined) {
    logger.warn('could not start the shard-carving process; carving in process', { error: r.error.message });
    return null;
  }
  if (r.status !== 0) {
    const line = (r.stderr ?? '').trim().split('\n').reverse().find((l) => l.startsWith('{'));
    let parsed: { code?: string; message?: string } | null = null;
    try {
      parsed = line === undefined ? null : (JSON.parse(line) as { code?: string; message?: string });
    } catch {
      parsed = null;
    }
    if (parsed?.code !== undefined && parsed.code !== 'E_INTERNAL' && parsed.message !== undefined) throw new TinyProtoError(parsed.code as ErrorCode, parsed.message);
    logger.warn('the shard-carving process failed; carving in process', { status: r.status, stderr: (r.stderr ?? '').slice(-500) });
    return null;
  }
  const shard = store.loadShard();
  if (shard === null) throw new TinyProtoError('E_STORE', `${store.path}: the shard-carving process exited without storing a shard`);
  return shard;
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
    const fromChild = carveInChild(cfg, store, logger);
    if (fromChild !== null) {
      shard = fromChild;
    } else {
      shard = carveShard(cfg);
      store.saveShard(shard.meta, shard.train, shard.test);
    }
    logger.info('data shard cached in the store', { dataset: shard.meta.dataset, train: shard.train.labels.length, test: shard.test.labels.length, store: store.path });
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
