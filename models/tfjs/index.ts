/** TensorFlow.js engine: model zoo, training engine and backend initialisation. */
export { TfjsEngine, TfjsLocalModel, type TfjsBackend } from './engine.ts';
export { initTfjs, tfjsMemory, type TfjsInitOptions, type TfjsHandle, type TfjsBackendChoice, type TfjsBackendName } from './backend.ts';
export { registerWasmGradKernels } from './wasm-grad-kernels.ts';
export { buildNet, type Net } from './zoo.ts';
