/** Loggers for CLI entry points (library code only ever sees the Logger interface). */
import type { Logger } from '../common/logger.ts';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** One line per entry on stderr: time, optional prefix, level, message, fields as JSON. */
export function lineLogger(minLevel: LogLevel, prefix = '', write: (s: string) => void = (s) => process.stderr.write(s)): Logger {
  const emit = (level: LogLevel) => (msg: string, fields?: Record<string, unknown>) => {
    if (ORDER[level] < ORDER[minLevel]) return;
    const t = new Date().toISOString().slice(11, 23);
    write(`${t} ${prefix}${level.padEnd(5)} ${msg}${fields && Object.keys(fields).length ? ' ' + JSON.stringify(fields) : ''}\n`);
  };
  return { debug: emit('debug'), info: emit('info'), warn: emit('warn'), error: emit('error') };
}

export function levelFromEnv(fallback: LogLevel): LogLevel {
  const v = process.env['TINYPROTO_LOG'];
  return v === 'debug' || v === 'info' || v === 'warn' || v === 'error' ? v : process.env['TINYPROTO_VERBOSE'] === '1' ? 'debug' : fallback;
}
