/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in README.md. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';

export function updateReadmeBlock(readmePath: string, name: string, body: string): boolean {
  if (!existsSync(readmePath)) return false;
  const text = readFileSync(readmePath, 'utf8');
  const start = `<!-- ${name}:start -->`;
  const end = `<!-- ${name}:end -->`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  if (i < 0 || j < i) return false;
  writeFileSync(readmePath, `${text.slice(0, i + start.length)}\n${body.trim()}\n${text.slice(j)}`);
  return true;
}

/**
 * Writes a benchmark's results: `OUT/NAME.md` and `OUT/NAME.json`, and the Markdown into the
 * README block `block`. Returns true when the README block was refreshed.
 */
export function writeBenchmarkResults(outDir: string, name: string, block: string, md: string, json: unknown): boolean {
  mkdirSync(outDir, { recursive: true });
  writeFileSync(`${outDir}/${name}.md`, md + '\n');
  writeFileSync(`${outDir}/${name}.json`, JSON.stringify(json, null, 1));
  return updateReadmeBlock('README.md', block, md);
}
