/** The agent's learner: its model on the board's shard, with the agent's options (agent/config.ts). */
import type { Engine, Family } from '../models/engine.ts';
import { Learner } from '../learner/learner.ts';
import { setupDefaults } from '../method/experiment.ts';
import type { AgentConfig } from './config.ts';
import type { AgentData } from './shard.ts';

/** A learner for `data` with the settings a ROUND has not announced yet: the paper's defaults. */
export function createAgentLearner(engine: Engine, c: AgentConfig, data: AgentData, family: Family): Learner {
  return new Learner(
    engine,
    { client: c.client, family, inputShape: data.inputShape, trainX: data.trainX, trainY: data.trainY, testX: data.testX, testY: data.testY },
    {
      method: 'tinyproto',
      featureDim: c.featureDim,
      numClasses: data.meta.numClasses,
      seed: c.seed,
      // until a ROUND announces the experiment's settings
      ...setupDefaults('batchSize', 'lr', 'lambda', 'localEpochs'),
      // small evaluation batches keep the engine's activation memory low on a board
      evalBatchSize: 64,
      // the learner's options (agent/config.ts)
      masks: null,
      prototypeLoss: c.prototypeLoss,
      prototypeEval: c.prototypeEval,
      prototypeContrast: c.prototypeContrast,
      clipNorm: c.clipNorm,
      prototypeScale: c.prototypeScale,
    },
  );
}
