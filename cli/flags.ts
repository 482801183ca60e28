/**
 * Declarative command-line flags: a table of flag -> config field and type, parsed with
 * node:util parseArgs and converted with errors that name the flag.
 */
import { parseArgs } from 'node:util';
import { flagInt, flagList, flagNumber } from './args.ts';

export type FlagType = 'string' | 'int' | 'number' | 'bool' | 'list' | 'int|null' | 'number|auto';

export interface FlagSpec {
  readonly field: string;
  readonly type: FlagType;
  readonly help: string;
}

export type FlagTable = Readonly<Record<string, FlagSpec>>;

/** Parses argv against the table; returns the fields given (absent flags are left out). */
export function parseFlags(argv: string[], table: FlagTable, extra: Record<string, { type: 'string' | 'boolean'; short?: string }> = {}): {
  fields: Record<string, unknown>;
  extra: Record<string, string | boolean | undefined>;
} {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { ...extra };
  for (const [flag, spec] of Object.entries(table)) options[flag] = { type: spec.type === 'bool' ? 'boolean' : 'string' };
  const { values } = parseArgs({ args: argv, options, strict: true, allowPositionals: false });
  const fields: Record<string, unknown> = {};
  for (const [flag, spec] of Object.entries(table)) {
    const v = values[flag];
    if (v === undefined) continue;
    const s = v as string;
    switch (spec.type) {
      case 'string':
        fields[spec.field] = s;
        break;
      case 'bool':
        fields[spec.field] = v as boolean;
        break;
      case 'int':
        fields[spec.field] = flagInt(flag, s);
        break;
      case 'number':
        fields[spec.field] = flagNumber(flag, s);
        break;
      case 'list':
        fields[spec.field] = flagList(s);
        break;
      case 'int|null':
        fields[spec.field] = s === 'all' ? null : flagInt(flag, s);
        break;
      case 'number|auto':
        fields[spec.field] = s === 'auto' ? 'auto' : flagNumber(flag, s);
        break;
    }
  }
  const rest: Record<string, string | boolean | undefined> = {};
  for (const k of Object.keys(extra)) rest[k] = values[k] as string | boolean | undefined;
  return { fields, extra: rest };
}

/** Help lines for a flag table. */
export function flagHelp(table: FlagTable): string {
  const rows = Object.entries(table).map(([flag, spec]) => {
    const arg = spec.type === 'bool' ? '' : spec.type === 'list' ? ' A,B,..' : spec.type === 'number|auto' ? ' N|auto' : spec.type === 'int|null' ? ' N|all' : ' V';
    return [`  --${flag}${arg}`, spec.help] as const;
  });
  const w = Math.max(...rows.map((r) => r[0].length)) + 2;
  return rows.map(([a, b]) => a.padEnd(w) + b).join('\n');
}
