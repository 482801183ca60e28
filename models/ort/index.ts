/** The ONNX Runtime engine: public exports. */
export { OrtEngine, OrtLocalModel, type OrtEngineOptions } from './engine.ts';
export { exportInferenceOnnx, evaluateOnnx, type OnnxEvaluation } from './export.ts';
export { buildTrainGraph, buildInferGraph, type BuiltGraph } from './graphs.ts';
export { cudaProviderInstalled, ortVersion } from './runtime.ts';
