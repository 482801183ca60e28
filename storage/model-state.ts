/**
 * A model's state (models/engine.ts ModelState: named float32 tensors) as a JSON manifest plus
 * one BLOB, for the stores that keep checkpoints (the agent's, the simulation's).
 */
import type { ModelState } from '../models/engine.ts';
import { storeError } from './sqlite.ts';

interface ManifestEntry {
  name: string;
  shape: number[];
  offset: number;
  length: number;
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
