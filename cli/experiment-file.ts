/**
 * Reads `--experiment-file FILE` (TOML, or JSON for a .json file) and validates it: the keys and
 * values through method/experiment-file.ts, then what needs the upper layers (model families,
 * link and board profiles). Every problem is an E_CONFIG error naming the file, line and key.
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { TinyProtoError } from '../common/errors.ts';
import { lineFinder, validateExperimentFile, type ExperimentFileFields } from '../method/experiment-file.ts';
import { FAMILIES } from '../models/zoo-info.ts';
import { resolveLinkProfile } from '../emulation/link-profiles.ts';
import { boardEmulation } from '../emulation/boards.ts';

export const EXPERIMENT_FILE_HELP = '  --experiment-file FILE   experiment file (TOML, or JSON for .json; experiments/*.toml); flags override it';

/** Parses and validates an experiment file's text; `source` names it in errors. */
export function parseExperimentFile(text: string, source: string): ExperimentFileFields {
  let doc: unknown;
  if (/\.json$/i.test(source)) {
    try {
      doc = JSON.parse(text);
    } catch (e) {
      throw new TinyProtoError('E_CONFIG', `${source}: not valid JSON (${(e as Error).message})`);
    }
  } else {
    try {
      doc = parseToml(text);
    } catch (e) {
      if (e instanceof TomlError) throw new TinyProtoError('E_CONFIG', `${source}:${e.line}:${e.column}: not valid TOML (${e.message.split('\n')[0]})`, { line: e.line });
      throw e;
    }
  }
  const fields = validateExperimentFile(doc, source, lineFinder(text));
  const lineOf = lineFinder(text);
  const at = (section: string, key: string): string => {
    const line = lineOf(section, key);
    return line === null ? source : `${source}:${line}`;
  };
  for (const f of fields.families ?? []) {
    if (!(FAMILIES as readonly string[]).includes(f)) throw new TinyProtoError('E_CONFIG', `${at('', 'families')}: unknown family "${f}" in "families"; known: ${FAMILIES.join(', ')}`, { field: 'families', value: f });
  }
  const profile = (key: 'link' | 'board', check: (v: string) => unknown): void => {
    const v = fields[key];
    if (v === undefined) return;
    try {
      check(v);
    } catch (e) {
      throw new TinyProtoError('E_CONFIG', `${at('fleet', key)}: "fleet.${key}": ${(e as Error).message}`, { field: `fleet.${key}`, value: v });
    }
  };
  profile('link', resolveLinkProfile);
  profile('board', boardEmulation);
  for (const [i, g] of (fields.groups ?? []).entries()) {
    for (const [key, check] of [['link', resolveLinkProfile], ['board', boardEmulation]] as const) {
      const v = g[key];
      if (v === null) continue;
      try {
        check(v);
      } catch (e) {
        const line = lineOf(`group#${i}`, key);
        throw new TinyProtoError('E_CONFIG', `${line === null ? source : `${source}:${line}`}: "group[${i}].${key}": ${(e as Error).message}`, { field: `group[${i}].${key}`, value: v });
      }
    }
  }
  return fields;
}

/** Reads and validates an experiment file. */
export function loadExperimentFile(path: string): ExperimentFileFields {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: cannot read the experiment file (${(e as Error).message})`);
  }
  return parseExperimentFile(text, path);
}

/** The file's fields (none without a path). */
export function experimentFileFields(path: string | undefined | null): ExperimentFileFields {
  return path ? loadExperimentFile(path) : {};
}

/** `o` without its undefined entries (so that absent flags do not hide the file's values). */
export function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
