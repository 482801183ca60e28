/** Field validators for config objects: each failure is an E_CONFIG error naming the field. */
import { TinyProtoError } from './errors.ts';

export function fail(field: string, why: string, value: unknown): never {
  throw new TinyProtoError('E_CONFIG', `invalid ${field}: ${why} (got ${JSON.stringify(value)})`, { field, value });
}

export function int(field: string, v: unknown, min: number, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) fail(field, 'must be an integer', v);
  if (v < min || v > max) fail(field, `must be between ${min} and ${max}`, v);
  return v;
}

export function num(field: string, v: unknown, min: number, max: number, { openMin = false } = {}): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) fail(field, 'must be a finite number', v);
  if ((openMin ? v <= min : v < min) || v > max) fail(field, `must be in ${openMin ? '(' : '['}${min}, ${max}]`, v);
  return v;
}

export function oneOf<T extends string>(field: string, v: unknown, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(field, `must be one of ${allowed.join(', ')}`, v);
  return v as T;
}

/** Rejects keys that the defaults object does not have. */
export function rejectUnknown(defaults: object, options: object): void {
  const known = new Set(Object.keys(defaults));
  for (const [k, v] of Object.entries(options)) {
    if (!known.has(k)) fail(k, `unknown option; known options are ${[...known].join(', ')}`, v);
  }
}

/** `{...defaults, ...options}` where an undefined option keeps the default. */
export function mergeDefined<T extends object>(defaults: T, options: Partial<T>): T {
  return { ...defaults, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as T;
}
