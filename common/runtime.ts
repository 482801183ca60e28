/**
 * Where this code runs from: compiled JavaScript under dist/ (plain node, the product) or the
 * TypeScript sources through tsx (a checkout). Child processes and worker threads start the same
 * kind of file as their parent, so a compiled agent never needs tsx and a checkout never runs a
 * stale build.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** True when this module is compiled JavaScript (dist/common/runtime.js). */
export const COMPILED: boolean = import.meta.url.endsWith('.js');

/** The package root: package.json, broker-config/, deploy/, and dist/ when built. */
export const PACKAGE_ROOT: string = join(dirname(fileURLToPath(import.meta.url)), COMPILED ? '../..' : '..');

/** The module `name` (no extension) next to `from` (an import.meta.url): .js compiled, .ts from sources. */
export function siblingModule(from: string, name: string): string {
  return fileURLToPath(new URL(`${name}${COMPILED ? '.js' : '.ts'}`, from));
}

/** Node arguments that run the module `file` in a child process: through tsx's loader when it is TypeScript. */
export function nodeArgsFor(file: string): string[] {
  return file.endsWith('.ts') ? ['--import', import.meta.resolve('tsx'), file] : [file];
}

/** Node arguments that run the `tinyproto` command line: dist/cli/main.js compiled, cli/main.ts from sources. */
export function cliNodeArgs(): string[] {
  return nodeArgsFor(join(PACKAGE_ROOT, COMPILED ? 'dist/cli/main.js' : 'cli/main.ts'));
}
