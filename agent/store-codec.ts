/**
 * Agent store internals: argument checks and shard metadata validation (the model-state
 * encoding is storage/model-state.ts). Not part of the public API.
 */
import { parseJsonObject, storeError } from '../storage/sqlite.ts';
import type { ShardMeta, ShardPart } from './store-types.ts';

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

