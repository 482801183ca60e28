/** `tinyproto --version`: the package version, whether this is the compiled build, and the runtime. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMPILED, PACKAGE_ROOT } from '../common/runtime.ts';

export interface VersionInfo {
  readonly version: string;
  readonly build: string;
  readonly node: string;
  readonly platform: string;
}

function readJson(path: string): Record<string, unknown> | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function versionInfo(root: string = PACKAGE_ROOT, compiled: boolean = COMPILED): VersionInfo {
  const pkg = readJson(join(root, 'package.json'));
  const stamp = compiled ? readJson(join(root, 'dist', 'build.json')) : null;
  const build = compiled ? `compiled${typeof stamp?.['commit'] === 'string' ? ` ${stamp['commit']}` : ''}` : 'sources (tsx)';
  return Object.freeze({
    version: typeof pkg?.['version'] === 'string' ? pkg['version'] : 'unknown',
    build,
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
  });
}

/** One line, version first: `tinyproto 0.1.0 (compiled 932a415; node v20.20.2; linux-x64)`. */
export function versionLine(v: VersionInfo = versionInfo()): string {
  return `tinyproto ${v.version} (${v.build}; node ${v.node}; ${v.platform})`;
}
