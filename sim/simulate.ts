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
import { getProfile, isBoardName } from '../board/profiles.ts';
import { resolveBoard } from '../board/detect.ts';
import { dropStalePrototypes, updateGlobalPrototypes } from '../method/global.ts';
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
import { averageStates, stateBytes } from '../method/fedavg.ts';
import { SimCheckpointStore, setupKey } from './checkpoint.ts';
import { evaluatesRound, PlateauRule } from './long-run.ts';
import { classScales } from './diagnostics.ts';
import { selectParticipants } from '../method/selection.ts';
import type { ClientRoundRecord, RoundRecord } from './records.ts';
import { SimulatedRounds } from './timing.ts';
import { byRule, roundContributors, roundUploaders, summarise, type SimSummary } from './summary.ts';
export { summarise, type SimSummary } from './summary.ts';

/**
 * Relative training cost per image of each family (ResNet-8 = 1): a scheduling hint to balance
 * clients across worker threads (an unbalanced guess costs wall time, never results), and, for
 * ort, how much slower than ResNet-8 a simulated board trains each family (sim/timing.ts).
 * Measured by `npm run bench:train` at 28x28x1, batch 32, one thread: ONNX Runtime 788 / 665 /
 * 643 / 515 images/s, tfjs on wasm 226 / 169 / 152 / 149 (ResNet-8, MobileNetV2, ShuffleNetV2,
 * EfficientNet-lite).
 */
const FAMILY_COST: Record<EngineName, Record<Family, number>> = {
  ort: { resnet8: 1, mobilenetv2: 1.2, shufflenetv2: 1.2, 'efficientnet-lite': 1.5 },
  tfjs: { resnet8: 1, mobilenetv2: 1.3, shufflenetv2: 1.5, 'efficientnet-lite': 1.5 },
};

export type { ClientRoundRecord, RoundRecord } from './records.ts';


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
  /** Why the run ended: its last round, or the plateau rule (at that round). */
  readonly stopped: { readonly reason: 'rounds' | 'plateau'; readonly round: number };
  /** The checkpoint round this run continued from (null = started at round 1). */
  readonly resumedFrom: number | null;
  /** Seconds of this invocation (a resumed run does not count the time before). */
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


/**
 * The simulation's class masks and mu: the experiment's (method/experiment.ts), derived from
 * the seed exactly as `server` and `fleet` derive them, for K classes and the clients' total
 * training-set size.
 */
export function simulationSetup(cfg: SimConfig, numClasses: number, totalTrainSamples: number): { masks: ClassMasks | null; mu: number | null } {
  const setup = { ...cfg, numClasses };
  return { masks: experimentMasks(setup), mu: resolveMu(setup, totalTrainSamples) };
}

/** FedAvg's server step: the clients' weights averaged (method/fedavg.ts), sent back to all; returns the bytes of one model. */
async function averageWeights(pool: ClientPool, states: Parameters<typeof averageStates>[0], trainSizes: readonly number[]): Promise<number> {
  const avg = averageStates(states, trainSizes);
  await pool.setStates(trainSizes.map(() => avg));
  return stateBytes(avg);
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
    prototypeScale: cfg.prototypeScale,
    prototypeAggregation: cfg.prototypeAggregation,
    prototypeLoss: cfg.prototypeLoss,
    prototypeEval: cfg.prototypeEval,
    prototypePass: cfg.prototypePass,
    warmupRounds: cfg.warmupRounds,
    lambdaRule: cfg.lambdaRule,
    lambdaRelative: cfg.lambdaRelative,
    lambdaFinal: cfg.lambdaFinal,
    clipNorm: cfg.clipNorm,
    rounds: cfg.rounds,
    offMaskWeight: cfg.offMaskWeight,
    classBalance: cfg.classBalance,
    prototypeContrast: cfg.prototypeContrast,
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
  // FedAvg: every client starts from one model (client 0's initial weights)
  if (cfg.method === 'fedavg') {
    const first = (await pool.getStates())[0]!;
    await pool.setStates(inits.map(() => first));
  }
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
  // simulated boards: each client's energy estimate uses its own board's profile
  const profileOf = (client: number) => {
    const b = cfg.timing?.clients[client]?.board;
    return b && isBoardName(b) ? getProfile(b) : profile;
  };
  const agentIds = inits.map((i) => `agent-${i.client}`);
  const initOf = new Map(inits.map((i) => [i.client, i]));
  const rounds: RoundRecord[] = [];
  let global: GlobalState | null = null;
  let globalPrototypes = new Map<number, Float32Array>();
  let received: Map<number, Float32Array> | null = null;
  // rounds in a row without a contributor, per class (staleRounds); rebuilt from the records on resume
  let ages: Int32Array = new Int32Array(K);
  const plateau = new PlateauRule(cfg.plateau, cfg.plateauDelta);
  const key = setupKey(cfg);
  let checkpoints: SimCheckpointStore | null = null;
  let resumedFrom: number | null = null;
  try {
    if (cfg.checkpoint !== null) {
      checkpoints = SimCheckpointStore.open(cfg.checkpoint);
      const cp = cfg.resume ? checkpoints.load(key) : null;
      if (cp) {
        await pool.setStates(cp.states);
        rounds.push(...cp.records);
        globalPrototypes = new Map(cp.aggregate);
        received = cp.received === null ? null : new Map(cp.received);
        global = received === null ? null : expandGlobalPrototypes(received, masks, K, d);
        for (const r of rounds) plateau.feed(r);
        for (const r of rounds) ages = dropStalePrototypes(new Map(), roundContributors(roundUploaders(r), clientsInfo, K), ages, 0).ages;
        resumedFrom = cp.round;
        logger.info('resumed from the checkpoint', { checkpoint: cfg.checkpoint, round: cp.round });
      } else if (cfg.resume) {
        logger.info('no checkpoint to resume from: starting at round 1', { checkpoint: cfg.checkpoint });
      }
    }
    // simulated links and boards: the clock continues from the records of a resumed run
    const simRounds = cfg.timing ? new SimulatedRounds(cfg.timing, cfg.seed, rounds) : null;
    const familyCost = FAMILY_COST.ort;
    for (let round = rounds.length + 1; round <= cfg.rounds && plateau.stoppedAt === null; round++) {
      const tr = performance.now();
      let trained = 0;
      // the aggregator's selection rule (method/selection.ts) over agent-0..agent-(N-1)
      const selected = selectParticipants(agentIds, cfg.participation, cfg.experiment, round).selected.map((a) => agentIds.indexOf(a)).sort((a, b) => a - b);
      // offline clients (the plan's churn) neither train nor upload
      const offline = simRounds?.offlineIn(round) ?? [];
      const trainees = offline.length > 0 ? selected.filter((c) => !offline.includes(c)) : selected;
      const only = trainees.length < cfg.clients ? trainees : undefined;
      hooks.onProgress?.(round, 0, trainees.length);
      const { uploads, failed } = trainees.length > 0 ? await pool.train(round, global, () => hooks.onProgress?.(round, ++trained, trainees.length), only) : { uploads: [], failed: [] };
      for (const f of failed) logger.warn('a client did not train this round: it uploads nothing and goes back to its weights from before the round', { round, client: f.client, code: f.code, error: f.message });
      const s = masks?.s ?? d;
      const wire: WireContext = { experiment: 'sim', round, K, d, s, layout: masks ? 'sparse' : 'dense', valueType: cfg.valueType };
      // Local sends nothing; the others send their prototypes through the real codec
      // (each UPLOAD carries the client's training-sample count, as an agent's does)
      const sent = uploads.map((u) => (cfg.method === 'local' || cfg.method === 'fedavg' ? null : uploadThroughWire(u.client, u.prototypes, wire, initOf.get(u.client)!.trainY.length)));
      // FedAvg: one architecture, so every upload and download is one model's bytes
      const states = cfg.method === 'fedavg' ? await pool.getStates() : null;
      const modelBytes = states ? stateBytes(states[0]!) : 0;
      // simulated time: only the uploads that arrive before the round closes count (the others are stale)
      const timing = simRounds?.play(
        round,
        selected,
        uploads.map((u, i) => ({ client: u.client, trainImages: u.train.samples, uploadBytes: sent[i]?.messageBytes ?? modelBytes, familyCost: familyCost[initOf.get(u.client)!.family] })),
        rounds.at(-1)?.messageBytesDownPerClient ?? 0,
      );
      const inTime = timing ? new Set(timing.uploaded) : null;
      const counted = uploads.flatMap((u, i) => (inTime === null || inTime.has(u.client) ? [i] : []));
      const countedClients = new Set(counted.map((i) => uploads[i]!.client));
      // FedAvg: the server averages the weights (by training-set size) and every client takes the average
      const weightBytes = states && counted.length > 0 ? await averageWeights(pool, states, inits.map((i) => (countedClients.has(i.client) ? i.trainY.length : 0))) : 0;
      const update =
        counted.length === 0
          ? null
          : updateGlobalPrototypes(
              { method: cfg.method, numClasses: K, featureDim: d, masks, mu, aggregation: cfg.prototypeAggregation },
              counted.map((i) => sent[i]?.prototypes ?? new Map<number, Float32Array>()),
              globalPrototypes,
            );
      let down: { payloadBytes: number; messageBytes: number } = { payloadBytes: weightBytes, messageBytes: weightBytes };
      if (update) {
        const kept = dropStalePrototypes(update.prototypes, update.contributors, ages, cfg.staleRounds);
        ages = kept.ages;
        globalPrototypes = kept.prototypes;
        const wired = globalThroughWire(kept.prototypes, update.contributors, wire);
        down = wired;
        received = wired.prototypes;
        global = expandGlobalPrototypes(received, masks, K, d);
      }
      const evaluated = evaluatesRound(round, cfg.rounds, cfg.evalEvery);
      const evals = evaluated ? await pool.evaluate(round, global) : null;
      const clients: ClientRoundRecord[] = uploads.map((u, i) => {
        const e = evals?.find((x) => x.client === u.client) ?? null;
        const family = initOf.get(u.client)!.family;
        return {
          client: u.client,
          family,
          testCount: e?.testCount ?? 0,
          accuracyHead: e === null ? null : e.testCount ? e.headCorrect / e.testCount : 0,
          accuracyPrototype: e === null || e.prototypeCorrect === null ? null : e.testCount ? e.prototypeCorrect / e.testCount : 0,
          accuracyPrototypeOwn: e === null || e.prototypeOwnCorrect === null ? null : e.testCount ? e.prototypeOwnCorrect / e.testCount : 0,
          classesHeld: u.classesHeld,
          bytesUp: sent[i]?.payloadBytes ?? modelBytes,
          bytesDown: down.payloadBytes,
          messageBytesUp: sent[i]?.messageBytes ?? modelBytes,
          messageBytesDown: down.messageBytes,
          loss: u.train.loss,
          protoLoss: u.train.protoLoss,
          gradNormMax: u.train.gradNormMax,
          clippedSteps: u.train.clippedSteps,
          trainSeconds: u.trainSeconds,
          telemetry: simulatedTelemetry(u, e, {
            experiment: 'sim',
            family,
            profile: profileOf(u.client),
            messageBytesUp: sent[i]?.messageBytes ?? modelBytes,
            messageBytesDown: down.messageBytes,
            ...(timing ? { simulated: timing.clients.find((c) => c.client === u.client)! } : {}),
          }),
        };
      });
      const bytesUp = clients.reduce((a, c) => a + c.bytesUp, 0);
      const steps = uploads.reduce((a, u) => a + u.train.steps, 0) || 1;
      const rec: RoundRecord = {
        round,
        selected,
        evaluated,
        accuracyHead: evals === null ? null : (weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.headCorrect }))) ?? 0),
        accuracyPrototype: evals === null ? null : weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.prototypeCorrect }))),
        accuracyPrototypeOwn: evals === null ? null : weightedAccuracy(evals.map((e) => ({ count: e.testCount, correct: e.prototypeOwnCorrect }))),
        accuracyPrototypeByRule: evals === null ? null : byRule(evals),
        bytesUp,
        // every client receives the broadcast; only the selected ones upload
        bytesDown: down.payloadBytes * cfg.clients,
        bytesUpPerClient: clients.length ? bytesUp / clients.length : 0,
        bytesDownPerClient: down.payloadBytes,
        messageBytesUpPerClient: clients.length ? clients.reduce((a, c) => a + c.messageBytesUp, 0) / clients.length : 0,
        messageBytesDownPerClient: down.messageBytes,
        loss: uploads.reduce((a, u) => a + u.train.loss * u.train.steps, 0) / steps,
        protoLoss: uploads.reduce((a, u) => a + u.train.protoLoss * u.train.steps, 0) / steps,
        gradNormMax: uploads.reduce((a, u) => Math.max(a, u.train.gradNormMax), 0),
        clippedSteps: uploads.reduce((a, u) => a + u.train.clippedSteps, 0),
        seconds: (performance.now() - tr) / 1000,
        prototypeScales: classScales(uploads.map((u) => u.diagnostics), received, mu, K),
        clients,
        ...(failed.length > 0 ? { failed } : {}),
        ...(timing ? { timing } : {}),
      };
      rounds.push(rec);
      plateau.feed(rec);
      checkpoints?.save(key, { round, records: rounds, states: await pool.getStates(), aggregate: globalPrototypes, received });
      hooks.onRound?.(rec);
    }
  } finally {
    checkpoints?.close();
    await pool.close();
  }
  const lastRound = rounds[rounds.length - 1]?.round ?? 0;
  const stopped = plateau.stoppedAt !== null ? { reason: 'plateau' as const, round: plateau.stoppedAt } : { reason: 'rounds' as const, round: lastRound };
  if (stopped.reason === 'plateau') logger.info('stopped at a plateau', { round: stopped.round, patience: cfg.plateau, delta: cfg.plateauDelta });
  return { config: cfg, ...ready, rounds, summary: summarise(rounds), stopped, resumedFrom, seconds: (performance.now() - t0) / 1000 };
}

