/**
 * The federated simulation: every client in one machine. Per round:
 *   1. each client trains locally (CE, plus lambda * MSE to the global prototypes once they exist),
 *      then computes its class prototypes in one pass and forms its upload;
 *   2. the aggregator combines the uploads (TinyProto: mu * sum of scaled sparse prototypes;
 *      FedProto: unweighted mean of dense prototypes; Local: nothing);
 *   3. each client evaluates on its own test split, by its head and by the nearest (new) global prototype.
 */
import os from 'node:os';
import type { Logger } from '../common/logger.ts';
import { silentLogger } from '../common/logger.ts';
import type { ClassMasks } from '../wire/masks.ts';
import { expandGlobalPrototypes } from '../method/aggregate.ts';
import { experimentMasks, resolveMu } from '../method/experiment.ts';
import { globalThroughWire, uploadThroughWire, type WireContext } from './wire.ts';
import { simulatedTelemetry } from './telemetry.ts';
import { getProfile } from '../board/profiles.ts';
import { resolveBoard } from '../board/detect.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';
import { updateGlobalPrototypes } from '../method/global.ts';
import { loadDataset, makeShards, toFloatBatch, gatherLabels, DEFAULT_DATA_DIR } from '../data/index.ts';
import type { ImageDataset } from '../data/types.ts';
import { createEngine, resolveEngineName, type EngineName } from '../models/index.ts';
import { familyForClient } from '../models/zoo-info.ts';
import type { Family } from '../models/engine.ts';
import type { SimConfig } from './config.ts';
import type { ClientInit, GlobalState, ModelInfo, RunnerSettings } from '../learner/types.ts';
import { InProcessPool, WorkerPool, type ClientPool } from './pool.ts';
import { engineOptions, threadsPerEngine } from '../learner/engine-settings.ts';
import { weightedAccuracy } from '../learner/eval.ts';

/**
 * Relative training cost per image of each family (ResNet-8 = 1), used only as a scheduling hint
 * to balance clients across worker threads; an unbalanced guess costs wall time, never results.
 * Measured by `npm run bench:train` at 28x28x1, batch 32, one thread: ONNX Runtime 788 / 665 /
 * 643 / 515 images/s, tfjs on wasm 226 / 169 / 152 / 149 (ResNet-8, MobileNetV2, ShuffleNetV2,
 * EfficientNet-lite).
 */
const FAMILY_COST: Record<EngineName, Record<Family, number>> = {
  ort: { resnet8: 1, mobilenetv2: 1.2, shufflenetv2: 1.2, 'efficientnet-lite': 1.5 },
  tfjs: { resnet8: 1, mobilenetv2: 1.3, shufflenetv2: 1.5, 'efficientnet-lite': 1.5 },
};

export interface ClientRoundRecord {
  readonly client: number;
  readonly family: Family;
  readonly testCount: number;
  readonly accuracyHead: number;
  readonly accuracyPrototype: number | null;
  readonly classesHeld: number;
  /** Payload: the value bytes of the upload / of the global prototypes received. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  /** Whole encoded messages (header, class bitmap, values, CRC), without MQTT framing. */
  readonly messageBytesUp: number;
  readonly messageBytesDown: number;
  readonly loss: number;
  readonly protoLoss: number;
  readonly trainSeconds: number;
  /** The same per-round record an agent sends (energy estimated from the board profile). */
  readonly telemetry: RoundTelemetry;
}

export interface RoundRecord {
  readonly round: number;
  /** Test-size-weighted mean over clients of accuracy by the head. */
  readonly accuracyHead: number;
  /** Same, by the nearest prototype (null before any prototype exists). */
  readonly accuracyPrototype: number | null;
  /** Payload bytes summed over clients this round. */
  readonly bytesUp: number;
  readonly bytesDown: number;
  readonly bytesUpPerClient: number;
  readonly bytesDownPerClient: number;
  readonly messageBytesUpPerClient: number;
  readonly messageBytesDownPerClient: number;
  readonly loss: number;
  readonly protoLoss: number;
  readonly seconds: number;
  readonly clients: readonly ClientRoundRecord[];
}

export interface SimSummary {
  readonly best: { readonly accuracyHead: number; readonly roundHead: number; readonly accuracyPrototype: number | null; readonly roundPrototype: number | null };
  readonly last: { readonly accuracyHead: number; readonly accuracyPrototype: number | null };
  readonly totalBytesUp: number;
  readonly totalBytesDown: number;
  readonly meanBytesUpPerClientRound: number;
  readonly meanBytesDownPerClientRound: number;
}

export interface SimResult {
  readonly config: SimConfig;
  readonly dataset: { name: string; dir: string; count: number; shape: [number, number, number]; numClasses: number };
  readonly clients: readonly { client: number; family: Family; train: number; test: number; classes: number[] }[];
  readonly models: readonly ModelInfo[];
  readonly mu: number | null;
  readonly masks: { s: number; blockSize: number; blocksPerClass: number; seed: number } | null;
  readonly workers: number;
  /** ort: ONNX Runtime intra-op threads of each worker's engine (config threads, or the cores shared by the workers); tfjs ignores it. */
  readonly threads: number;
  readonly rounds: readonly RoundRecord[];
  readonly summary: SimSummary;
  readonly seconds: number;
}

export interface SimHooks {
  readonly logger?: Logger;
  /** Called when the data, shards and models are ready. */
  readonly onReady?: (info: Pick<SimResult, 'dataset' | 'clients' | 'models' | 'mu' | 'masks' | 'workers' | 'threads'>) => void;
  readonly onRound?: (record: RoundRecord) => void;
  /** Called as each client finishes training in a round. */
  readonly onProgress?: (round: number, trained: number, clients: number) => void;
  /** Optional pre-loaded data set (tests, benchmarks that run several simulations). */
  readonly dataset?: ImageDataset;
}

export function summarise(rounds: readonly RoundRecord[]): SimSummary {
  let bestH = -1;
  let bestHR = 0;
  let bestP: number | null = null;
  let bestPR: number | null = null;
  let up = 0;
  let down = 0;
  let clientRounds = 0;
  for (const r of rounds) {
    if (r.accuracyHead > bestH) {
      bestH = r.accuracyHead;
      bestHR = r.round;
    }
    if (r.accuracyPrototype !== null && (bestP === null || r.accuracyPrototype > bestP)) {
      bestP = r.accuracyPrototype;
      bestPR = r.round;
    }
    up += r.bytesUp;
    down += r.bytesDown;
    clientRounds += r.clients.length;
  }
  const last = rounds[rounds.length - 1];
  return {
    best: { accuracyHead: Math.max(bestH, 0), roundHead: bestHR, accuracyPrototype: bestP, roundPrototype: bestPR },
    last: { accuracyHead: last?.accuracyHead ?? 0, accuracyPrototype: last?.accuracyPrototype ?? null },
    totalBytesUp: up,
    totalBytesDown: down,
    meanBytesUpPerClientRound: clientRounds ? up / clientRounds : 0,
    meanBytesDownPerClientRound: clientRounds ? down / clientRounds : 0,
  };
}

/**
 * The simulation's class masks and mu: the experiment's (method/experiment.ts), derived from
 * the seed exactly as `server` and `fleet` derive them, for K classes and the clients' total
 * training-set size.
 */
export function simulationSetup(cfg: SimConfig, numClasses: number, totalTrainSamples: number): { masks: ClassMasks | null; mu: number | null } {
  const setup = { ...cfg, numClasses };
  return { masks: experimentMasks(setup), mu: resolveMu(setup, totalTrainSamples) };
}

export async function simulate(cfg: SimConfig, hooks: SimHooks = {}): Promise<SimResult> {
  const logger = hooks.logger ?? silentLogger;
  const t0 = performance.now();
  const dir = cfg.dataDir ?? DEFAULT_DATA_DIR;
  const ds = hooks.dataset ?? loadDataset(dir, 'all');
  const K = ds.numClasses;
  const d = cfg.featureDim;
  const shards = makeShards(ds, {
    clients: cfg.clients,
    alpha: cfg.alpha,
    seed: cfg.seed,
    minPerClient: cfg.minPerClient,
    samplesPerClient: cfg.samplesPerClient ?? undefined,
    trainFraction: cfg.trainFraction,
  });
  const inputShape: [number, number, number] = [ds.height, ds.width, ds.channels];
  const inits: ClientInit[] = shards.map((sh) => ({
    client: sh.client,
    family: familyForClient(sh.client, cfg.families),
    inputShape,
    trainX: toFloatBatch(ds, sh.train),
    trainY: gatherLabels(ds, sh.train),
    testX: toFloatBatch(ds, sh.test),
    testY: gatherLabels(ds, sh.test),
  }));
  const totalTrain = shards.reduce((a, sh) => a + sh.train.length, 0);

  const { masks, mu } = simulationSetup(cfg, K, totalTrain);

  const workers = Math.max(1, Math.min(cfg.workers || os.availableParallelism(), cfg.clients));
  // each worker creates its own engine: by default they share the cores rather than each taking all
  const threads = threadsPerEngine(cfg.threads);
  const settings: RunnerSettings = {
    method: cfg.method,
    featureDim: d,
    numClasses: K,
    seed: cfg.seed,
    batchSize: cfg.batchSize,
    lr: cfg.lr,
    lambda: cfg.lambda,
    localEpochs: cfg.localEpochs,
    evalBatchSize: cfg.evalBatchSize,
    masks,
    engine: cfg.engine,
    threads,
    trainThreads: cfg.trainThreads,
    provider: cfg.provider,
    backend: cfg.backend,
    allowCpu: cfg.allowCpu,
  };
  let pool: ClientPool;
  if (workers === 1) {
    const engine = await createEngine(engineOptions(settings, logger));
    pool = new InProcessPool(engine, inits, settings);
  } else {
    const familyCost = FAMILY_COST[resolveEngineName(cfg.engine)];
    const costs = inits.map((i) => i.trainY.length * familyCost[i.family]);
    pool = await WorkerPool.create(inits, settings, workers, costs, logger);
  }

  const clientsInfo = shards.map((sh, i) => {
    const labels = inits[i]!.trainY;
    const present = new Set<number>();
    for (const y of labels) present.add(y);
    return { client: sh.client, family: inits[i]!.family, train: sh.train.length, test: sh.test.length, classes: [...present].sort((a, b) => a - b) };
  });
  const ready = {
    dataset: { name: ds.name, dir, count: ds.count, shape: inputShape, numClasses: K },
    clients: clientsInfo,
    models: pool.models,
    mu,
    masks: masks ? { s: masks.s, blockSize: masks.blockSize, blocksPerClass: masks.blocksPerClass, seed: masks.params.seed } : null,
    workers,
    threads,
  };
  hooks.onReady?.(ready);
  const m0 = pool.models[0];
  logger.info('simulation ready', {
    method: cfg.method,
    clients: cfg.clients,
    workers,
    engine: m0 ? `${m0.engine}/${m0.backend}` : cfg.engine,
    threads,
    mu,
    totalTrain,
  });

  const profile = getProfile(resolveBoard(cfg.board).board);
  const rounds: RoundRecord[] = [];
  let global: GlobalState | null = null;
  let globalPrototypes = new Map<number, Float32Array>();
  try {
    for (let round = 1; round <= cfg.rounds; round++) {
      const tr = performance.now();
      let trained = 0;
      hooks.onProgress?.(round, 0, cfg.clients);
      const uploads = await pool.train(round, global, () => hooks.onProgress?.(round, ++trained, cfg.clients));
      const s = masks?.s ?? d;
      const wire: WireContext = { experiment: 'sim', round, K, d, s, layout: masks ? 'sparse' : 'dense', valueType: cfg.valueType };
      // Local sends nothing; the others send their prototypes through the real codec
      const sent = uploads.map((u) => (cfg.method === 'local' ? null : uploadThroughWire(u.client, u.prototypes, wire)));
      const update = updateGlobalPrototypes(
        { method: cfg.method, numClasses: K, featureDim: d, masks, mu },
        sent.map((w) => w?.prototypes ?? new Map<number, Float32Array>()),
        globalPrototypes,
      );
      let down: { payloadBytes: number; messageBytes: number } = { payloadBytes: 0, messageBytes: 0 };
      if (update) {
        globalPrototypes = update.prototypes;
        const received = globalThroughWire(update.prototypes, update.contributors, wire);
        down = received;
        global = expandGlobalPrototypes(received.prototypes, masks, K, d);
      }
      const evals = await pool.evaluate(round, global);
      const clients: ClientRoundRecord[] = uploads.map((u, i) => {
        const e = evals[i]!;
        return {
          client: u.client,
          family: inits[i]!.family,
          testCount: e.testCount,
          accuracyHead: e.testCount ? e.headCorrect / e.testCount : 0,
          accuracyPrototype: e.prototypeCorrect === null ? null : e.testCount ? e.prototypeCorrect / e.testCount : 0,
          classesHeld: u.classesHeld,
          bytesUp: sent[i]?.payloadBytes ?? 0,
          bytesDown: down.payloadBytes,
          messageBytesUp: sent[i]?.messageBytes ?? 0,
          messageBytesDown: down.messageBytes,
          loss: u.train.loss,
          protoLoss: u.train.protoLoss,
          trainSeconds: u.trainSeconds,
          telemetry: simulatedTelemetry(u, e, {
            experiment: 'sim',
            family: inits[i]!.family,
            profile,
            messageBytesUp: sent[i]?.messageBytes ?? 0,
            messageBytesDown: down.messageBytes,
          }),
        };
      });
      const bytesUp = clients.reduce((a, c) => a + c.bytesUp, 0);
      const steps = uploads.reduce((a, u) => a + u.train.steps, 0) || 1;
      const rec: RoundRecord = {
        round,
        accuracyHead: weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.headCorrect }))) ?? 0,
        accuracyPrototype: weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.prototypeCorrect }))),
        bytesUp,
        bytesDown: down.payloadBytes * clients.length,
        bytesUpPerClient: bytesUp / clients.length,
        bytesDownPerClient: down.payloadBytes,
        messageBytesUpPerClient: clients.reduce((a, c) => a + c.messageBytesUp, 0) / clients.length,
        messageBytesDownPerClient: down.messageBytes,
        loss: uploads.reduce((a, u) => a + u.train.loss * u.train.steps, 0) / steps,
        protoLoss: uploads.reduce((a, u) => a + u.train.protoLoss * u.train.steps, 0) / steps,
        seconds: (performance.now() - tr) / 1000,
        clients,
      };
      rounds.push(rec);
      hooks.onRound?.(rec);
    }
  } finally {
    await pool.close();
  }
  return { config: cfg, ...ready, rounds, summary: summarise(rounds), seconds: (performance.now() - t0) / 1000 };
}
