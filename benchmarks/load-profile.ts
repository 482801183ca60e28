/**
 * Summarises a V8 .cpuprofile (node --cpu-prof) by self time: top functions (name, file, line)
 * and top files/packages, with idle time split off. For the server child of bench:load:
 *   LOAD_N=1000 LOAD_ROUNDS=2 LOAD_BROKERS=mosquitto LOAD_NO_WRITE=1 LOAD_NO_INPROC=1 \
 *     LOAD_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npx tsx benchmarks/load.ts
 *   npx tsx benchmarks/load-profile.ts /tmp/prof/CPU.*.0.001.cpuprofile [top]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  totalMs: number;
  idleMs: number;
  functions: { name: string; ms: number }[];
  files: { name: string; ms: number }[];
}

function shortUrl(url: string): string {
  if (url === '') return '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) return `nm:${url.slice(nm + 13).split('/').slice(0, 2).join('/')}`;
  return url.replace(/^file:\/\/.*?\/(?=(common|wire|method|storage|mqtt|data|models|board|learner|agent|aggregator|sim|dashboard|fleet|report|cli|benchmarks)\/)/, '');
}

export function summariseProfile(p: CpuProfile, top = 10): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (let i = 0; i < p.samples.length; i++) {
    const us = p.timeDeltas[i] ?? 0;
    const node = byId.get(p.samples[i] ?? -1);
    if (!node) continue;
    total += us;
    const cf = node.callFrame;
    if (cf.functionName === '(idle)') {
      idle += us;
      continue;
    }
    const file = shortUrl(cf.url);
    const fn = `${cf.functionName || '(anonymous)'} ${file}:${cf.lineNumber + 1}`;
    fns.set(fn, (fns.get(fn) ?? 0) + us);
    const f = cf.url === '' ? cf.functionName : file;
    files.set(f, (files.get(f) ?? 0) + us);
  }
  const topOf = (m: Map<string, number>): { name: string; ms: number }[] =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).map(([name, t]) => ({ name, ms: t / 1000 }));
  return { totalMs: total / 1000, idleMs: idle / 1000, functions: topOf(fns), files: topOf(files) };
}

if (process.argv[1]?.endsWith('load-profile.ts')) {
  const file = process.argv[2];
  if (file === undefined) {
    process.stderr.write('usage: tsx benchmarks/load-profile.ts FILE.cpuprofile [top]\n');
    process.exit(2);
  }
  const s = summariseProfile(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile, Number(process.argv[3] ?? 10));
  const busy = s.totalMs - s.idleMs;
  const line = (r: { name: string; ms: number }): string => `| ${r.name} | ${r.ms.toFixed(0)} | ${((100 * r.ms) / busy).toFixed(1)} |`;
  process.stdout.write(`busy ${busy.toFixed(0)} ms of ${s.totalMs.toFixed(0)} ms (idle ${s.idleMs.toFixed(0)} ms)\n\n`);
  process.stdout.write(['| function (self time) | ms | % busy |', '| --- | ---: | ---: |', ...s.functions.map(line), ''].join('\n') + '\n');
  process.stdout.write(['| file / package | ms | % busy |', '| --- | ---: | ---: |', ...s.files.map(line)].join('\n') + '\n');
}
