/**
 * Agent store internals: argument checks, shard metadata validation and the model-state
 * (checkpoint) manifest+BLOB encoding. Not part of the public API.
 */
import type { ModelState } from '../models/engine.ts';
import { parseJsonObject, storeError } from '../storage/sqlite.ts';
import type { ShardMeta, ShardPart } from './store-types.ts';

interface ManifestEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

export function checkRound(path: string, round: number): void {
  if (!Number.isSafeInteger(round) || round < 0) throw storeError(path, `invalid round ${String(round)}`);
}

export function checkKey(path: string, what: string, s: string): void {
  if (typeof s !== 'string' || s.length === 0) throw storeError(path, `invalid ${what} ${JSON.stringify(s)}`);
}

export function int32ToBlob(a: Int32Array): Buffer {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength);
}

export function blobToInt32(b: Uint8Array, count: number, path: string, what: string): Int32Array {
  if (b.byteLength !== count * 4) {
    throw storeError(path, `${what}: ${b.byteLength} bytes, expected ${count * 4} for ${count} labels`);
  }
  const out = new Int32Array(count);
  new Uint8Array(out.buffer).set(b);
  return out;
}

export function validateMeta(path: string, m: ShardMeta): void {
  const posInt = (k: keyof ShardMeta): void => {
    const v = m[k];
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) {
      throw storeError(path, `shard meta: ${k} must be a positive integer, got ${String(v)}`);
    }
  };
  (['height', 'width', 'channels', 'numClasses', 'clients'] as const).forEach(posInt);
  if (!Number.isSafeInteger(m.client) || m.client < 0 || m.client >= m.clients) {
    throw storeError(path, `shard meta: client ${m.client} not in [0, ${m.clients})`);
  }
  if (m.mean.length !== m.channels || m.std.length !== m.channels) {
    throw storeError(path, `shard meta: mean/std need ${m.channels} entries`);
  }
  if (![...m.mean, ...m.std, m.alpha, m.seed].every(Number.isFinite)) {
    throw storeError(path, 'shard meta: mean, std, alpha and seed must be finite');
  }
}

export function validatePart(path: string, name: string, meta: ShardMeta, part: ShardPart): void {
  const per = meta.height * meta.width * meta.channels;
  const count = part.labels.length;
  if (part.pixels.length !== count * per) {
    throw storeError(
      path,
      `shard ${name}: ${part.pixels.length} pixel bytes, expected ${count}*${meta.height}*${meta.width}*${meta.channels} = ${count * per}`,
    );
  }
  for (let i = 0; i < count; i++) {
    const l = part.labels[i]!;
    if (l < 0 || l >= meta.numClasses) throw storeError(path, `shard ${name}: label ${l} at ${i} not in [0, ${meta.numClasses})`);
  }
}

export function parseShardMeta(path: string, text: unknown): ShardMeta {
  const o = parseJsonObject(text, path, 'shard meta');
  const num = (k: string): number => {
    const v = o[k];
    if (typeof v !== 'number') throw storeError(path, `shard meta: ${k} missing`);
    return v;
  };
  const arr = (k: string): number[] => {
    const v = o[k];
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw storeError(path, `shard meta: ${k} missing`);
    return v as number[];
  };
  const str = (k: string): string => {
    const v = o[k];
    if (typeof v !== 'string') throw storeError(path, `shard meta: ${k} missing`);
    return v;
  };
  const spc = o['samplesPerClient'];
  if (spc !== null && typeof spc !== 'number') throw storeError(path, 'shard meta: samplesPerClient missing');
  return {
    dataset: str('dataset'),
    source: str('source'),
    height: num('height'),
    width: num('width'),
    channels: num('channels'),
    numClasses: num('numClasses'),
    mean: arr('mean'),
    std: arr('std'),
    client: num('client'),
    clients: num('clients'),
    alpha: num('alpha'),
    seed: num('seed'),
    samplesPerClient: spc,
  };
}

export function encodeState(path: string, state: ModelState): { manifest: string; data: Buffer } {
  const names = Object.keys(state).sort();
  const entries: ManifestEntry[] = [];
  let total = 0;
  for (const name of names) {
    const t = state[name]!;
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || size !== t.data.length) {
      throw storeError(path, `checkpoint: tensor ${name} has shape [${t.shape.join(',')}] but ${t.data.length} values`);
    }
    entries.push({ name, shape: [...t.shape], offset: total, length: size });
    total += size;
  }
  const all = new Float32Array(total);
  for (const e of entries) all.set(state[e.name]!.data, e.offset);
  return { manifest: JSON.stringify(entries), data: Buffer.from(all.buffer, all.byteOffset, all.byteLength) };
}

export function decodeState(path: string, manifestText: string, blob: Uint8Array): ModelState {
  let entries: unknown;
  try {
    entries = JSON.parse(manifestText);
  } catch (e) {
    throw storeError(path, 'checkpoint manifest: invalid JSON', e);
  }
  if (!Array.isArray(entries)) throw storeError(path, 'checkpoint manifest: not an array');
  if (blob.byteLength % 4 !== 0) throw storeError(path, `checkpoint data: ${blob.byteLength} bytes is not a multiple of 4`);
  const all = new Float32Array(blob.byteLength / 4);
  new Uint8Array(all.buffer).set(blob);
  const state: ModelState = {};
  for (const raw of entries as unknown[]) {
    const e = raw as Partial<ManifestEntry>;
    if (
      typeof e.name !== 'string' ||
      !Array.isArray(e.shape) ||
      typeof e.offset !== 'number' ||
      typeof e.length !== 'number' ||
      e.shape.reduce((a: number, b: number) => a * b, 1) !== e.length ||
      e.offset < 0 ||
      e.offset + e.length > all.length
    ) {
      throw storeError(path, `checkpoint manifest: bad entry ${JSON.stringify(raw)}`);
    }
    state[e.name] = { shape: [...e.shape], data: all.slice(e.offset, e.offset + e.length) };
  }
  return state;
}
