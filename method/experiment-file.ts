/**
 * The experiment file (TOML or JSON, read by `simulate`, `fleet` and `server` with
 * `--experiment-file FILE`): its keys, their sections and their validation, in ONE place. Keys are
 * spelled as the command-line flags that override them (`feature-dim`, `value-type`, ...).
 * This module is pure: it validates an already parsed document; cli/experiment-file.ts reads
 * and parses the file and checks what needs the upper layers (families, link and board profiles).
 *
 *   experiment = "wifi-1"       (the id; default: each command's own)
 *   method = "tinyproto"         rounds = 5        seed = 1        agents = 4
 *   families = ["resnet8"]       feature-dim = 500 ratio = 0.1     lambda = 10
 *   mu = "auto"                  mu-factor = 0.65  value-type = "float32"
 *   lr = 0.01                    batch-size = 32   local-epochs = 1
 *   [data]  dir = "..."  alpha = 0.1  samples-per-client = 300 | "all"
 *   [round] participation = 1  deadline-ms = 600000  min-uploads = 1  close-at = 8  stale-rounds = 0
 *   [fleet] link = "wifi-congested"  board = "rpi4b"
 *   [[group]] name = "edge"  agents = 4  link = "wifi-weak"  board = "rpi-zero-2w"  offline = ["5-8"]  crash-upload = [3]
 *             (method/fleet-plan.ts; one table per group of agents)
 */
import { TinyProtoError } from '../common/errors.ts';
import { checkSetup, type ExperimentSetup } from './experiment.ts';
import { validateGroups, type FleetGroup } from './fleet-plan.ts';

/** What an experiment file sets, as config field names; absent = not set (the command's default or flag). */
export interface ExperimentFileFields {
  /** The experiment id: it seeds the per-round selection, so simulate and fleet given one file select alike. */
  readonly experiment?: string;
  readonly method?: ExperimentSetup['method'];
  readonly rounds?: number;
  readonly seed?: number;
  /** simulate's clients, fleet's agents, server's agent-0..agent-(N-1). */
  readonly agents?: number;
  readonly families?: readonly string[];
  readonly featureDim?: number;
  readonly ratio?: number;
  readonly lambda?: number;
  readonly mu?: number | 'auto';
  readonly muFactor?: number;
  /** Where mu 'auto' takes N from (aggregator/train-samples.ts): the agents' reported counts or the configured total. */
  readonly muFrom?: 'reported' | 'configured';
  /** The configured total training samples (checked against the agents' reported counts). */
  readonly totalTrainSamples?: number;
  readonly valueType?: ExperimentSetup['valueType'];
  readonly lr?: number;
  readonly batchSize?: number;
  readonly localEpochs?: number;
  readonly dataDir?: string;
  readonly alpha?: number;
  readonly samplesPerClient?: number | null;
  readonly participation?: number;
  readonly roundDeadlineMs?: number;
  readonly minUploads?: number;
  readonly closeAt?: number;
  /** How long a round waits for a selected agent that went offline (fleet and server). */
  readonly offlineGraceMs?: number;
  /** Rounds without a contributor after which a class loses its global prototype (server, fleet and simulate). */
  readonly staleRounds?: number;
  readonly link?: string;
  readonly board?: string;
  /** The fleet's agents in groups ([[group]] tables, method/fleet-plan.ts). */
  readonly groups?: readonly FleetGroup[];
}

type Field = keyof ExperimentFileFields;
type Check = (v: unknown) => string | null;

const isInt = (min: number, max: number): Check => (v) => (typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `must be an integer from ${min} to ${max}`);
const isNum = (min: number, max: number, openMin = false): Check => (v) =>
  typeof v === 'number' && Number.isFinite(v) && (openMin ? v > min : v >= min) && v <= max ? null : `must be a number in ${openMin ? '(' : '['}${min}, ${max}]`;
const isText: Check = (v) => (typeof v === 'string' && v !== '' ? null : 'must be a non-empty string');
/** The setup fields: their own validation (method/experiment.ts), reported with the file's key. */
const setup = (field: keyof ExperimentSetup): Check => (v) => {
  try {
    checkSetup({ [field]: v });
    return null;
  } catch (e) {
    return e instanceof TinyProtoError ? e.message.replace(/^invalid [^:]*:\s*/, '').replace(/\s*\(got .*\)$/s, '') : String(e);
  }
};

/** section ('' = top level) -> key -> [field, check]. */
const KEYS: Readonly<Record<string, Readonly<Record<string, readonly [Field, Check]>>>> = {
  '': {
    experiment: ['experiment', (v) => (typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) ? null : 'must be an id of 1-64 letters, digits, "_", "." or "-"')],
    method: ['method', setup('method')],
    rounds: ['rounds', setup('rounds')],
    seed: ['seed', setup('seed')],
    agents: ['agents', isInt(1, 100_000)],
    families: ['families', (v) => (Array.isArray(v) && v.length > 0 && v.every((f) => typeof f === 'string') ? null : 'must be a non-empty list of family names')],
    'feature-dim': ['featureDim', setup('featureDim')],
    ratio: ['ratio', setup('ratio')],
    lambda: ['lambda', setup('lambda')],
    mu: ['mu', setup('mu')],
    'mu-factor': ['muFactor', setup('muFactor')],
    'mu-from': ['muFrom', (v) => (v === 'reported' || v === 'configured' ? null : 'must be reported or configured')],
    'total-train-samples': ['totalTrainSamples', isInt(1, 2 ** 31)],
    'value-type': ['valueType', setup('valueType')],
    lr: ['lr', setup('lr')],
    'batch-size': ['batchSize', setup('batchSize')],
    'local-epochs': ['localEpochs', setup('localEpochs')],
  },
  data: {
    dir: ['dataDir', isText],
    alpha: ['alpha', setup('alpha')],
    'samples-per-client': ['samplesPerClient', (v) => (v === 'all' ? null : isInt(4, 2 ** 31)(v) && 'must be an integer >= 4 or "all"')],
  },
  round: {
    participation: ['participation', isNum(0, 1, true)],
    'deadline-ms': ['roundDeadlineMs', isInt(100, 2 ** 31)],
    'min-uploads': ['minUploads', isInt(1, 100_000)],
    'close-at': ['closeAt', isInt(1, 100_000)],
    'offline-grace-ms': ['offlineGraceMs', isInt(0, 86_400_000)],
    'stale-rounds': ['staleRounds', setup('staleRounds')],
  },
  fleet: {
    link: ['link', isText],
    board: ['board', isText],
  },
};

/** Every key a file may hold, "section.key" (for help and docs). */
export const EXPERIMENT_FILE_KEYS: readonly string[] = Object.freeze([
  ...Object.entries(KEYS).flatMap(([s, keys]) => Object.keys(keys).map((k) => (s ? `${s}.${k}` : k))),
  ...['name', 'agents', 'link', 'board', 'offline', 'crash-upload'].map((k) => `group.${k}`),
]);

/**
 * Where a key is in the file's text (1-based line), when it can be found. `section` may name
 * the n-th table of an array as "group#n" (0-based).
 */
export type LineOf = (section: string, key: string) => number | null;

/** The line of `key` under `[section]` in a TOML text, or of `"key":` in a JSON text (first occurrence after the section's name). */
export function lineFinder(text: string): LineOf {
  const lines = text.split(/\r?\n/);
  const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\-]/g, '\\$&');
  return (section, key) => {
    const keyRe = new RegExp(`^\\s*(?:"${esc(key)}"|'${esc(key)}'|${esc(key)})\\s*[=:]`);
    const sectionRe = new RegExp(`^\\s*(?:\\[\\s*${esc(section)}\\s*\\]|"${esc(section)}"\\s*:)`);
    let current = '';
    const seen = new Map<string, number>();
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      const array = /^\s*\[\[\s*([^\]\s]+)\s*\]\]/.exec(line);
      const header = array ? null : /^\s*\[\s*([^\]\s]+)\s*\]/.exec(line);
      if (array) {
        const n = seen.get(array[1]!) ?? 0;
        seen.set(array[1]!, n + 1);
        current = `${array[1]!}#${n}`;
        if (key === '' && current === section) return i + 1;
      } else if (header) current = header[1]!;
      else if (section !== '' && sectionRe.test(line)) current = section;
      if ((current === section || (section === '' && current === '')) && keyRe.test(line)) return i + 1;
    }
    return null;
  };
}

function where(source: string, line: number | null): string {
  return line === null ? source : `${source}:${line}`;
}

const isTable = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);

/**
 * Validates a parsed experiment file. Unknown keys and sections, and bad values, are E_CONFIG
 * errors naming the file, the line (when found) and the key.
 */
export function validateExperimentFile(doc: unknown, source: string, lineOf: LineOf = () => null): ExperimentFileFields {
  if (!isTable(doc)) throw new TinyProtoError('E_CONFIG', `${source}: an experiment file is a table of keys (TOML) or an object (JSON)`);
  const out: Record<string, unknown> = {};
  const visit = (section: string, table: Record<string, unknown>): void => {
    const keys = KEYS[section]!;
    for (const [key, value] of Object.entries(table)) {
      const name = section ? `${section}.${key}` : key;
      if (section === '' && key === 'group') {
        out['groups'] = Object.freeze(validateGroups(value, (i, k) => where(source, lineOf(`group#${i}`, k ?? ''))));
        continue;
      }
      if (section === '' && key in KEYS && key !== '') {
        if (!isTable(value)) throw new TinyProtoError('E_CONFIG', `${where(source, lineOf('', key))}: "${key}" is a section ([${key}]), not a value`, { field: key });
        visit(key, value);
        continue;
      }
      const spec = keys[key];
      if (spec === undefined) {
        const line = lineOf(section, key);
        throw new TinyProtoError('E_CONFIG', `${where(source, line)}: unknown key "${name}"; known keys: ${EXPERIMENT_FILE_KEYS.join(', ')}`, { field: name, ...(line !== null ? { line } : {}) });
      }
      const [field, check] = spec;
      const why = check(value);
      if (why !== null) throw new TinyProtoError('E_CONFIG', `${where(source, lineOf(section, key))}: "${name}" ${why}, got ${JSON.stringify(value)}`, { field: name, value });
      out[field] = field === 'samplesPerClient' && value === 'all' ? null : field === 'families' ? Object.freeze([...(value as string[])]) : value;
    }
  };
  visit('', doc);
  if (out['featureDim'] !== undefined) checkSetup({ featureDim: out['featureDim'] });
  return Object.freeze(out) as ExperimentFileFields;
}

/** The fields of `fields` among `names`, renamed where `rename` says (e.g. agents -> clients). */
export function pickFields(fields: ExperimentFileFields, names: readonly Field[], rename: Partial<Record<Field, string>> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const n of names) if (fields[n] !== undefined || (n === 'samplesPerClient' && n in fields)) out[rename[n] ?? n] = fields[n];
  return out;
}
