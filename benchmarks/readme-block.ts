/** Replaces the text between `<!-- NAME:start -->` and `<!-- NAME:end -->` in README.md. */
import { readFileSync, writeFileSync, existsSync } from 'node:fs';

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
