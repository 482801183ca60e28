/** ONNX Runtime checks for `tinyproto doctor`: it loads, which execution providers it has, and it runs a graph. */
import { ok, problem, type CheckResult } from '../../common/check.ts';
import { GraphBuilder } from './graph.ts';
import { createSession, cudaProviderInstalled, loadOrt } from './runtime.ts';

/** Loads onnxruntime-node, lists its providers and runs y = x * 2 + 1 on the CPU provider, checking the answer. */
export async function ortCheck(): Promise<CheckResult> {
  const ort = await loadOrt();
  const version = ort.env.versions.node ?? 'unknown';
  const providers = ['cpu', ...(cudaProviderInstalled() ? ['cuda'] : [])];
  const g = new GraphBuilder('doctor');
  const x = g.input('x', [4]);
  g.output('y', g.op('Add', [g.op('Mul', [x, g.constF([2])]), g.constF([1])]), [4]);
  const session = await createSession(ort, g.toBytes(), { threads: 1, provider: 'cpu' });
  try {
    const t0 = performance.now();
    const res = await session.run({ x: new ort.Tensor('float32', Float32Array.from([0, 1, 2, 3]), [4]) });
    const ms = performance.now() - t0;
    const y = Array.from(res['y']?.data as Float32Array);
    if (y.join(',') !== '1,3,5,7') return problem('onnxruntime', `onnxruntime-node ${version} ran a test graph and got ${y.join(',')} instead of 1,3,5,7`);
    return ok('onnxruntime', `onnxruntime-node ${version} on ${process.platform}-${process.arch}; execution providers: ${providers.join(', ')}; test graph ran in ${ms.toFixed(2)} ms`);
  } finally {
    await session.release();
  }
}
