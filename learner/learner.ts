/**
 * The learning side of one client (an agent on a board, or a simulated one): its own backbone
 * (heterogeneous), its private shard, local training with the prototype term, the prototypes it
 * uploads, and evaluation on its own test split. The simulation and the MQTT agent both use it.
 */
import type { ClassFeatureSums, Engine, LocalModel, EpochStats, ModelState } from '../models/engine.ts';
import { classPrototypes, scaledSparsePrototypes, densePrototypes, classSpreads } from '../method/prototypes.ts';
import { matchPrototypeScale } from '../method/prototype-scale.ts';
import { prototypeTermWeights } from '../method/prototype-weights.ts';
import { lambdaFactor } from '../method/lambda-schedule.ts';
import { contrastSetup } from '../method/prototype-contrast.ts';
import type { PrototypeContrast } from '../models/contrast.ts';
import { Rng } from '../common/rng.ts';
import { headCorrect, prototypeCorrect, prototypeCorrectBy } from './eval.ts';
import type { ClientEval, ClientInit, ClientUpload, GlobalState, ModelInfo, RunnerSettings } from './types.ts';
import type { EngineSettings } from './engine-settings.ts';
import type { PrototypeEvalRule } from '../method/experiment.ts';
import { TinyProtoError, isTinyProtoError } from '../common/errors.ts';

/** The settings a Learner uses: its engine is created (and given to it) by the caller. */
export type LearnerSettings = Omit<RunnerSettings, keyof EngineSettings>;

export class Learner {
  readonly id: number;
  private readonly model: LocalModel;
  private readonly init: ClientInit;
  private settings: LearnerSettings;
  private readonly engine: Engine;
  /** Test-split embedding of the current weights (cleared whenever the weights change). */
  private testEmbedding: { features: Float32Array; logits: Float32Array } | null = null;
  /** Class means and counts of the training split from the last prototype pass. */
  private localMeans: Float32Array | null = null;
  private localCounts: Int32Array | null = null;
  /** Per class, the spread of the training features about their mean on the class's support ('spread' rule), for the current weights. */
  private localSpread: Float64Array | null = null;
  /** The training split's features from the last pass after training, for the current weights: with the prototype contrast only (its temperature). */
  private trainFeatures: Float32Array | null = null;
  /** The round train() last ran, for error messages. */
  private round: number | null = null;
  /** The training split's class counts (labels only: fixed for the learner's life). */
  private readonly trainClassCounts: Int32Array;

  constructor(engine: Engine, init: ClientInit, settings: LearnerSettings) {
    this.engine = engine;
    this.id = init.client;
    this.init = init;
    this.settings = settings;
    this.trainClassCounts = new Int32Array(settings.numClasses);
    for (const y of init.trainY) this.trainClassCounts[y]!++;
    this.model = engine.createModel({
      family: init.family,
      inputShape: init.inputShape,
      featureDim: settings.featureDim,
      numClasses: settings.numClasses,
      seed: Rng.derive(settings.seed, `model:${init.client}`).nextUint32(),
    });
  }

  info(): ModelInfo {
    return {
      client: this.id,
      family: this.init.family,
      paramCount: this.model.paramCount,
      flopsPerImage: this.model.flopsPerImage,
      engine: this.engine.name,
      backend: this.engine.backend,
    };
  }

  /** Local epochs with the current global prototypes, then the local prototypes and the upload. */
  async train(round: number, global: GlobalState | null): Promise<ClientUpload> {
    const s = this.settings;
    this.round = round;
    this.testEmbedding = null;
    const relative = s.lambdaRule === 'relative';
    const lambda = (relative ? (s.lambdaRelative ?? 0) : s.lambda) * lambdaFactor(round, s.rounds ?? round, s.lambdaFinal ?? 1);
    const usePrototypes = s.method !== 'local' && global !== null && lambda > 0 && round > (s.warmupRounds ?? 0);
    const target = usePrototypes ? await this.scaled(global) : null;
    const classWeights = usePrototypes ? await this.prototypeTermWeights(global) : null;
    const contrast = usePrototypes && (s.prototypeContrast ?? 0) > 0 ? await this.prototypeContrast(target!, s.prototypeContrast!, lambda) : null;
    const t0 = performance.now();
    let stats: EpochStats | null = null;
    let loss = 0;
    let ce = 0;
    let pl = 0;
    let steps = 0;
    let samples = 0;
    let gradNormMax = 0;
    let clippedSteps = 0;
    const fromTraining = s.prototypePass === 'training';
    for (let e = 0; e < s.localEpochs; e++) {
      stats = await this.trainEpoch(e, {
        batchSize: s.batchSize,
        lr: s.lr,
        lambda,
        globalPrototypes: usePrototypes ? target!.prototypes : null,
        hasGlobal: usePrototypes ? global.hasGlobal : null,
        ...(classWeights === null ? {} : { classWeights }),
        ...(contrast === null ? {} : { contrast }),
        ...(fromTraining && e === s.localEpochs - 1 ? { collectFeatures: true } : {}),
        shuffleSeed: Rng.derive(s.seed, `shuffle:${this.id}:${round}:${e}`).nextUint32(),
        ...(s.clipNorm ? { clipNorm: s.clipNorm } : {}),
      });
      gradNormMax = Math.max(gradNormMax, stats.gradNormMax);
      clippedSteps += stats.clippedSteps;
      loss += stats.loss * stats.steps;
      ce += stats.ceLoss * stats.steps;
      pl += stats.protoLoss * stats.steps;
      steps += stats.steps;
      samples += stats.samples;
    }
    const t1 = performance.now();
    this.localSpread = null; // the weights changed
    this.trainFeatures = null;
    // Prototypes in one pass after training (METHOD.md's cleaner alternative), in eval mode, or
    // (prototypePass 'training') from the last epoch's training steps, as the paper's code.
    const { counts, means } = fromTraining && stats?.classFeatures !== undefined ? this.trainingPrototypes(stats.classFeatures) : await this.refreshLocalPrototypes();
    let prototypes: Map<number, Float32Array>;
    if (s.method === 'tinyproto') {
      if (s.masks === null) throw new TinyProtoError('E_MASK', 'tinyproto client needs masks');
      // without adaptive scaling the client uploads p_ij itself (a count of one for every held class)
      prototypes = scaledSparsePrototypes(means, s.prototypeAggregation === 'mean' ? counts.map((c) => (c > 0 ? 1 : 0)) : counts, s.masks);
    } else if (s.method === 'fedproto') {
      prototypes = densePrototypes(means, counts, s.featureDim);
    } else {
      prototypes = new Map();
    }
    const t2 = performance.now();
    let held = 0;
    for (const c of counts) if (c > 0) held++;
    const meanNorms = new Float32Array(s.numClasses);
    const maskedNorms = new Float32Array(s.numClasses);
    for (let j = 0; j < s.numClasses; j++) {
      let q = 0;
      for (let k = j * s.featureDim; k < (j + 1) * s.featureDim; k++) q += means[k]! * means[k]!;
      meanNorms[j] = Math.sqrt(q);
      let m = 0;
      for (const k of s.masks?.indices[j] ?? []) m += means[j * s.featureDim + k]! ** 2;
      maskedNorms[j] = s.masks === null ? meanNorms[j]! : Math.sqrt(m);
    }
    const div = Math.max(steps, 1);
    return {
      client: this.id,
      round,
      prototypes,
      classesHeld: held,
      diagnostics: { counts: Int32Array.from(counts), meanNorms, maskedNorms },
      train: { loss: loss / div, ceLoss: ce / div, protoLoss: pl / div, steps, samples, seconds: (t1 - t0) / 1000, gradNormMax, clippedSteps },
      trainSeconds: (t1 - t0) / 1000,
      prototypeSeconds: (t2 - t1) / 1000,
      memory: this.memory(),
    };
  }

  /** One local epoch; a non-finite loss (the engines' E_NON_FINITE) is this client's training diverging: E_DIVERGED. */
  private async trainEpoch(epoch: number, options: Parameters<LocalModel['trainEpoch']>[2]): Promise<EpochStats> {
    try {
      return await this.model.trainEpoch(this.init.trainX, this.init.trainY, options);
    } catch (e) {
      if (!isTinyProtoError(e, 'E_NON_FINITE')) throw e;
      const at = e.details?.['step'];
      throw new TinyProtoError('E_DIVERGED', `client ${this.id}: training diverged: its loss is ${String(e.details?.['loss'] ?? 'not finite')} at step ${String(at)} of epoch ${epoch + 1} of round ${this.round} (lower --lr or --lambda, or turn off the improvement option that drove it)`, { client: this.id, round: this.round, step: at });
    }
  }

  /** The prototype term's weights under the improvement options (method/prototype-weights.ts). */
  private async prototypeTermWeights(global: GlobalState): Promise<Float32Array | null> {
    const s = this.settings;
    const masked = s.prototypeLoss === 'masked' && s.masks !== null;
    const relative = s.lambdaRule === 'relative';
    const beta = s.classBalance ?? 0;
    if (!masked && !relative && beta === 0) return null;
    if (relative && (this.localMeans === null || this.localCounts === null)) await this.refreshLocalPrototypes();
    return prototypeTermWeights(global.hasGlobal, {
      numClasses: s.numClasses,
      featureDim: s.featureDim,
      maskIndices: s.masks?.indices ?? null,
      masked,
      offMaskWeight: s.offMaskWeight ?? 0,
      relative: relative ? { means: this.localMeans!, counts: this.localCounts! } : null,
      classBalance: beta > 0 ? { beta, counts: this.trainClassCounts } : null,
    });
  }

  /**
   * The prototype contrast (method/prototype-contrast.ts) against the prototypes as this client
   * uses them, at the temperature of its own training features for the current weights; null
   * (no contrast this round) when none of them has a class with a global prototype.
   */
  private async prototypeContrast(target: GlobalState, gamma: number, lambda: number): Promise<PrototypeContrast | null> {
    const s = this.settings;
    if (this.trainFeatures === null) await this.refreshLocalPrototypes();
    const c = contrastSetup(gamma, lambda, this.trainFeatures!, this.init.trainY, s.featureDim, target.prototypes, target.hasGlobal, s.masks?.indices ?? null);
    return c === null ? null : { weight: c.weight, prototypes: target.prototypes, dimWeights: c.dimWeights, available: target.hasGlobal };
  }

  /** Class means of the features the training steps computed (prototypePass 'training'). */
  private trainingPrototypes(c: ClassFeatureSums): { counts: Int32Array; means: Float32Array } {
    const d = this.settings.featureDim;
    const means = new Float32Array(c.sums.length);
    for (let j = 0; j < c.counts.length; j++) {
      const n = c.counts[j]!;
      if (n > 0) for (let k = j * d; k < (j + 1) * d; k++) means[k] = c.sums[k]! / n;
    }
    this.localCounts = Int32Array.from(c.counts);
    this.localMeans = means;
    return { counts: this.localCounts, means };
  }

  /** Class prototypes (means, counts) of the training split with the current weights. */
  private async refreshLocalPrototypes(): Promise<{ counts: Int32Array; means: Float32Array }> {
    const { prototypes: p, spread } = await this.trainSplitStatistics();
    this.localCounts = p.counts;
    this.localMeans = p.means;
    this.localSpread = spread;
    return p;
  }

  /** One pass over the training split with the current weights: its class prototypes and class spreads. */
  private async trainSplitStatistics(): Promise<{ prototypes: ReturnType<typeof classPrototypes>; spread: Float64Array }> {
    const s = this.settings;
    const { trainX, trainY } = this.init;
    const emb = await this.model.embed(trainX, trainY.length, s.evalBatchSize);
    let prototypes: ReturnType<typeof classPrototypes>;
    try {
      prototypes = classPrototypes(emb.features, trainY, trainY.length, s.featureDim, s.numClasses);
    } catch (e) {
      // classPrototypes checks the features are finite: here that means the weights blew up
      if (!isTinyProtoError(e, 'E_NON_FINITE')) throw e;
      const bad = e.details?.['index'] as number;
      const sample = Math.floor(bad / s.featureDim);
      throw new TinyProtoError('E_DIVERGED', `client ${this.id}: training diverged: its feature ${bad % s.featureDim} of training sample ${sample} is ${emb.features[bad]}${this.round === null ? '' : ` after round ${this.round}`} (lower --lr or --lambda, or turn off the improvement option that drove it)`, { client: this.id, round: this.round, sample });
    }
    // kept only for the prototype contrast's temperature (n x d floats)
    this.trainFeatures = (s.prototypeContrast ?? 0) > 0 ? emb.features : null;
    return { prototypes, spread: classSpreads(emb.features, trainY, s.featureDim, prototypes.means, s.masks?.indices ?? null) };
  }

  /**
   * Accuracy on the client's own test split, by the head and by the nearest prototype: the
   * global prototypes (TinyProto, FedProto) or, for Local, the client's own class means.
   */
  async evaluate(round: number, global: GlobalState | null): Promise<ClientEval> {
    const t0 = performance.now();
    const { testX, testY } = this.init;
    const s = this.settings;
    this.testEmbedding ??= await this.model.embed(testX, testY.length, s.evalBatchSize);
    const { features, logits } = this.testEmbedding;
    const head = headCorrect(logits, testY, s.numClasses);
    const own = this.ownClasses();
    // among all K classes: the global prototypes (Local has none: null); among the client's own
    // training classes: the global prototypes of those classes, or Local's own class means
    let proto: number | null = null;
    let protoOwn: number | null = null;
    let byRule: ClientEval['prototypeCorrectByRule'] = null;
    if (s.method === 'local') {
      if (this.localMeans === null) await this.refreshLocalPrototypes();
      protoOwn = prototypeCorrect(features, testY, s.featureDim, this.localMeans!, own);
    } else if (global !== null) {
      const g = await this.scaled(global);
      const rule = s.prototypeEval ?? 'full';
      const support = s.masks?.indices ?? null;
      const spread = await this.ownSpreads();
      // every rule over all K (recorded side by side); the configured one is the prototype figure
      const by = (r: PrototypeEvalRule): number | null => prototypeCorrectBy(r, features, testY, s.featureDim, g.prototypes, g.hasGlobal, support, spread);
      const all = { full: by('full'), masked: by('masked'), cosine: by('cosine'), spread: by('spread') };
      proto = all[rule];
      protoOwn = prototypeCorrectBy(rule, features, testY, s.featureDim, g.prototypes, Uint8Array.from(own, (o, j) => o & (g.hasGlobal[j] ?? 0)), support, spread);
      if (proto !== null) byRule = all;
    }
    return {
      client: this.id,
      round,
      testCount: testY.length,
      headCorrect: head,
      prototypeCorrect: proto,
      prototypeOwnCorrect: protoOwn,
      prototypeCorrectByRule: byRule,
      evalSeconds: (performance.now() - t0) / 1000,
    };
  }

  /**
   * The 'spread' rule's class spreads for the current weights: from the last pass after training,
   * or (prototypePass 'training', whose means come from the training steps) one pass of its own
   * that leaves the uploaded means alone.
   */
  private async ownSpreads(): Promise<Float64Array> {
    this.localSpread ??= (await this.trainSplitStatistics()).spread;
    return this.localSpread;
  }

  /** The global prototypes as this client uses them: as received, or at its own scale ('local'). */
  private async scaled(global: GlobalState): Promise<GlobalState> {
    if (this.settings.prototypeScale !== 'local') return global;
    if (this.localMeans === null || this.localCounts === null) await this.refreshLocalPrototypes();
    return { prototypes: matchPrototypeScale(global.prototypes, global.hasGlobal, this.localMeans!, this.localCounts!, this.settings.featureDim), hasGlobal: global.hasGlobal };
  }

  /** 1 for each class of the training split (labels only: the same whatever the weights). */
  private ownClasses(): Uint8Array {
    return Uint8Array.from(this.trainClassCounts, (n) => (n > 0 ? 1 : 0));
  }

  private memory(): ClientUpload['memory'] {
    const m = this.engine.memory();
    const p = process.memoryUsage();
    return { rssBytes: p.rss, heapUsedBytes: p.heapUsed, engineBytes: m.numBytes, engineTensors: m.numTensors, wasmHeapBytes: m.wasmHeapBytes ?? null };
  }

  /** Changes settings announced per round (method, hyperparameters, masks). */
  configure(changes: Partial<LearnerSettings>): void {
    this.settings = { ...this.settings, ...changes };
  }

  /** The model's weights (a checkpoint). */
  getState(): ModelState {
    return this.model.getState();
  }

  /** Restores a checkpoint of the same family and shape. */
  setState(state: ModelState): void {
    this.model.setState(state);
    this.testEmbedding = null;
    this.localMeans = null;
    this.localCounts = null;
    this.localSpread = null;
    this.trainFeatures = null;
  }

  dispose(): void {
    this.model.dispose();
  }
}
