import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuInfo, cpuLine, parseCpuInfo } from './cpu-info.ts';

test('x86 with AVX-512, x86 with AVX2 only, and arm64 NEON', () => {
  const epyc = parseCpuInfo('processor\t: 0\nmodel name\t: AMD EPYC 9B14\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512bw\n\nprocessor\t: 1\n', 'x', 2);
  assert.deepEqual(epyc, { model: 'AMD EPYC 9B14', cores: 2, vector: ['avx512f', 'avx512bw', 'avx2', 'fma', 'avx', 'sse4_2'], simd: 'avx512' });
  const avx2 = parseCpuInfo('model name : AMD EPYC 7B13\nflags : sse4_2 avx avx2 fma\n');
  assert.equal(avx2.simd, 'avx2');
  assert.deepEqual(avx2.vector, ['avx2', 'fma', 'avx', 'sse4_2']);
  const pi = parseCpuInfo('processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU part\t: 0xd08\n\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n', 'Cortex-A72', 4);
  assert.deepEqual(pi, { model: 'Raspberry Pi 4 Model B Rev 1.4', cores: 4, vector: ['asimd'], simd: 'neon' });
  assert.equal(parseCpuInfo('', 'Apple M2').model, 'Apple M2');
  assert.match(cpuLine(pi), /Raspberry Pi 4 .*4 cores, asimd \(SIMD level neon\)/);
});

test('this machine: a model name and at least one core', () => {
  const c = cpuInfo();
  assert.ok(c.model.length > 0 && c.cores >= 1);
});
