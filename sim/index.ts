export { resolveSimConfig, SIM_DEFAULTS, METHODS, type Method, type SimConfig } from './config.ts';
export { simulate, summarise, type SimResult, type SimHooks, type SimSummary, type RoundRecord, type ClientRoundRecord } from './simulate.ts';
export { headCorrect, prototypeCorrect } from '../agent/eval.ts';
export { InProcessPool, WorkerPool, assignClients, type ClientPool } from './pool.ts';
export type { ClientInit, ClientUpload, ClientEval, GlobalState, ModelInfo, RunnerSettings } from '../agent/learner-types.ts';
