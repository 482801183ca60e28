/**
 * Loggers for CLI entry points (library code only ever sees the Logger interface), and the global
 * log settings every command shares: `--log-level debug|info|warn|error` and `--log-format
 * text|json`, anywhere on the command line. Precedence: flag, then environment (TINYPROTO_LOG,
 * TINYPROTO_LOG_FORMAT; TINYPROTO_VERBOSE=1 means debug), then LOG_DEFAULTS.
 */
import { TinyProtoError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export type LogFormat = 'text' | 'json';
export interface LogSettings {
  readonly level: LogLevel;
  readonly format: LogFormat;
}
export const LOG_DEFAULTS: LogSettings = Object.freeze({ level: 'warn', format: 'text' });

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };
const LEVELS = Object.keys(ORDER) as LogLevel[];
const FORMATS: readonly LogFormat[] = ['text', 'json'];
type Write = (s: string) => void;
const stderr: Write = (s) => process.stderr.write(s);

/** One line per entry on stderr: time, optional prefix, level, message, fields as JSON. */
export function lineLogger(minLevel: LogLevel, prefix = '', write: Write = stderr): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const t = new Date().toISOString().slice(11, 23);
    write(`${t} ${prefix}${level.padEnd(5)} ${msg}${fields && Object.keys(fields).length ? ' ' + safeJson(fields) : ''}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

const RESERVED = new Set(['time', 'level', 'msg', 'component']);

/**
 * One JSON object per line (journald, Loki, jq): time (ISO 8601), level, msg, component when
 * given, then the entry's fields at top level (a field named like one of those gets a `field_` prefix).
 */
export function jsonLogger(minLevel: LogLevel, component = '', write: Write = stderr, now: () => Date = () => new Date()): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const entry: Record<string, unknown> = { time: now().toISOString(), level, msg };
    if (component !== '') entry['component'] = component;
    for (const [k, v] of Object.entries(fields ?? {})) entry[RESERVED.has(k) ? `field_${k}` : k] = v;
    write(safeJson(entry) + '\n');
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

/** JSON that never throws: bigints as strings, errors as their message and code, cycles cut. */
export function safeJson(v: unknown): string {
  const seen = new WeakSet<object>();
  return JSON.stringify(v, (_k, x: unknown) => {
    if (typeof x === 'bigint') return x.toString();
    if (x instanceof Error) return { message: x.message, ...('code' in x ? { code: (x as { code: unknown }).code } : {}) };
    if (typeof x === 'object' && x !== null) {
      if (seen.has(x)) return '[cycle]';
      seen.add(x);
    }
    return x;
  });
}

/** The logger for these settings. */
export function makeLogger(s: LogSettings, component = '', write: Write = stderr): Logger {
  return s.format === 'json' ? jsonLogger(s.level, component, write) : lineLogger(s.level, component === '' ? '' : `${component} `, write);
}

function checkLevel(v: string, from: string): LogLevel {
  if ((LEVELS as string[]).includes(v)) return v as LogLevel;
  throw new TinyProtoError('E_CONFIG', `${from} must be one of ${LEVELS.join(', ')} (got "${v}")`);
}
function checkFormat(v: string, from: string): LogFormat {
  if ((FORMATS as string[]).includes(v)) return v as LogFormat;
  throw new TinyProtoError('E_CONFIG', `${from} must be one of ${FORMATS.join(', ')} (got "${v}")`);
}

/** Level and format from the environment (an unknown value is a configuration error, not ignored). */
export function logSettingsFromEnv(env: NodeJS.ProcessEnv = process.env, base: LogSettings = LOG_DEFAULTS): LogSettings {
  const lv = env['TINYPROTO_LOG'];
  const fmt = env['TINYPROTO_LOG_FORMAT'];
  const level = lv !== undefined && lv !== '' ? checkLevel(lv, 'TINYPROTO_LOG') : env['TINYPROTO_VERBOSE'] === '1' ? 'debug' : base.level;
  const format = fmt !== undefined && fmt !== '' ? checkFormat(fmt, 'TINYPROTO_LOG_FORMAT') : base.format;
  return Object.freeze({ level, format });
}

/** Kept for callers of the former API: the level from the environment, else `fallback`. */
export function levelFromEnv(fallback: LogLevel): LogLevel {
  return logSettingsFromEnv(process.env, { level: fallback, format: 'text' }).level;
}

/**
 * Takes the global log flags out of argv (before or after the command, `--flag v` or `--flag=v`)
 * and merges them over the environment: the one place log settings are decided.
 */
export function takeLogFlags(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): { settings: LogSettings; rest: string[] } {
  let { level, format } = logSettingsFromEnv(env);
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const m = /^--(log-level|log-format)(?:=(.*))?$/.exec(a);
    if (m === null) {
      rest.push(a);
      continue;
    }
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new TinyProtoError('E_CONFIG', `--${m[1]} needs a value`);
    if (m[1] === 'log-level') level = checkLevel(value, '--log-level');
    else format = checkFormat(value, '--log-format');
  }
  return { settings: Object.freeze({ level, format }), rest };
}
