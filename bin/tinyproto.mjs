#!/usr/bin/env node
// Entry point. Runs the compiled CLI (dist/cli/main.js) with plain node when it is built and, in a
// checkout, not older than the sources; otherwise registers tsx and runs the TypeScript sources.
// TINYPROTO_FROM_SOURCE=1 forces the sources.
import { existsSync, readdirSync, statSync } from 'node:fs';

const root = new URL('../', import.meta.url);
const dist = new URL('dist/cli/main.js', root);
const stamp = new URL('dist/build.json', root);
const SOURCE_DIRS = ['common', 'wire', 'method', 'mqtt', 'storage', 'data', 'models', 'board', 'learner', 'agent', 'aggregator', 'relay', 'dashboard', 'sim', 'fleet', 'report', 'cli'];

/** The newest modification time of the production sources (bounded: one walk of their folders). */
function newestSource() {
  let newest = 0;
  const walk = (url, depth) => {
    if (depth > 6) return;
    for (const e of readdirSync(url, { withFileTypes: true })) {
      if (e.isDirectory()) {
        if (e.name !== 'fixtures' && e.name !== 'node_modules') walk(new URL(`${e.name}/`, url), depth + 1);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) newest = Math.max(newest, statSync(new URL(e.name, url)).mtimeMs);
    }
  };
  for (const d of SOURCE_DIRS) if (existsSync(new URL(`${d}/`, root))) walk(new URL(`${d}/`, root), 0);
  return newest;
}

function useCompiled() {
  if (process.env.TINYPROTO_FROM_SOURCE === '1' || !existsSync(dist) || !existsSync(stamp)) return false;
  if (!existsSync(new URL('cli/main.ts', root))) return true; // an installed package: dist/ is all there is
  return statSync(stamp).mtimeMs >= newestSource();
}

let main;
if (useCompiled()) {
  ({ main } = await import(dist.href));
} else {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import(new URL('cli/main.ts', root).href));
}
process.exitCode = await main(process.argv.slice(2));
