/**
 * The tree reads as the architecture (README "Layout"): every folder has a layer, imports only go
 * down (or stay level), production code never imports tests, there are no import cycles, and no
 * source file is over 400 lines. Reads the sources as text; runs nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Bottom (0) to top. A folder may import folders of its own layer or below. */
export const LAYERS: Readonly<Record<string, number>> = Object.freeze({
  common: 0,
  wire: 1,
  method: 2,
  storage: 2,
  mqtt: 2,
  data: 2,
  models: 2,
  board: 2,
  learner: 3,
  agent: 4,
  aggregator: 4,
  sim: 4,
  dashboard: 5,
  relay: 5,
  emulation: 5,
  fleet: 6,
  report: 7,
  cli: 8,
  benchmarks: 9,
  bin: 10,
  test: 11,
});

const MAX_LINES = 400;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(ROOT, dir))) {
    const rel = join(dir, name);
    if (name === 'node_modules' || name === 'fixtures') continue;
    if (statSync(join(ROOT, rel)).isDirectory()) out.push(...sources(rel));
    else if (/\.(ts|mjs)$/.test(name)) out.push(rel);
  }
  return out;
}

const FILES = Object.keys(LAYERS).flatMap((d) => sources(d));
const isTest = (f: string): boolean => f.endsWith('.test.ts') || f.startsWith('test/');

function importsOf(file: string): string[] {
  const src = readFileSync(join(ROOT, file), 'utf8');
  const out: string[] = [];
  const re = /(?:from\s+|import\s*\(\s*|import\s+)'(\.{1,2}\/[^']+)'/g;
  for (const m of src.matchAll(re)) out.push(normalize(join(dirname(file), m[1]!)));
  return out;
}

const GRAPH = new Map(FILES.map((f) => [f, importsOf(f)] as const));
const top = (f: string): string => f.split('/')[0]!;

test('every top-level source folder has a layer', () => {
  const dirs = readdirSync(ROOT).filter((d) => {
    if (d.startsWith('.') || d === 'node_modules' || d === 'scratch' || d === 'runs' || d === 'dist') return false; // dist/: build output (npm run build)
    if (!statSync(join(ROOT, d)).isDirectory()) return false;
    return sources(d).length > 0;
  });
  for (const d of dirs) assert.ok(d in LAYERS, `folder ${d}/ has TypeScript but no layer in test/layout.test.ts`);
});

test('imports resolve to files that exist', () => {
  for (const [f, deps] of GRAPH) for (const d of deps) assert.ok(GRAPH.has(d) || d.startsWith('test/fixtures'), `${f} imports ${d}, which is not a source file`);
});

test('no folder imports one above it, and production code never imports tests', () => {
  const bad: string[] = [];
  for (const [f, deps] of GRAPH) {
    for (const d of deps) {
      if (!isTest(f) && isTest(d)) bad.push(`${f} -> ${d} (production imports a test file)`);
      const from = LAYERS[top(f)]!;
      const to = LAYERS[top(d)];
      if (to !== undefined && to > from && !isTest(f)) bad.push(`${f} -> ${d} (${top(f)}/ is below ${top(d)}/)`);
    }
  }
  assert.deepEqual(bad, []);
});

test('no import cycles', () => {
  const state = new Map<string, 1 | 2>();
  const cycles: string[] = [];
  const visit = (f: string, path: string[]): void => {
    state.set(f, 1);
    for (const d of GRAPH.get(f) ?? []) {
      if (!GRAPH.has(d)) continue;
      if (state.get(d) === 1) cycles.push([...path.slice(path.indexOf(d)), f, d].join(' -> '));
      else if (state.get(d) === undefined) visit(d, [...path, f]);
    }
    state.set(f, 2);
  };
  for (const f of GRAPH.keys()) if (!state.has(f)) visit(f, []);
  assert.deepEqual(cycles, []);
});

test(`no source file over ${MAX_LINES} lines`, () => {
  const long = FILES.map((f) => [f, readFileSync(join(ROOT, f), 'utf8').split('\n').length - 1] as const).filter(([, n]) => n > MAX_LINES);
  assert.deepEqual(long.map(([f, n]) => `${f}: ${n}`), []);
});

test('the README layout table names every folder', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Layout'));
  for (const d of Object.keys(LAYERS)) assert.match(section, new RegExp('`' + d + '/`'), `README's Layout table lacks ${d}/`);
});
