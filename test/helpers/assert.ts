/** Assertions shared by unit and integration tests. */
import assert from 'node:assert/strict';

/** `fn` throws a TinyProtoError with code E_CONFIG whose message matches `re`. */
export function assertConfigError(fn: () => unknown, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    const err = e as { code?: string; message?: string };
    assert.equal(err.code, 'E_CONFIG');
    assert.match(err.message ?? '', re);
    return true;
  });
}

/**
 * max |a - ref| / max(max |ref|, floor): the relative error of a whole tensor (0 when both are
 * all zeros; Infinity when only `ref` is).
 */
export function relDiff(a: Float32Array, ref: Float32Array, floor = 0): number {
  assert.equal(a.length, ref.length);
  let diff = 0;
  let scale = floor;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(a[i]! - ref[i]!));
    scale = Math.max(scale, Math.abs(ref[i]!));
  }
  if (diff === 0) return 0;
  return scale === 0 ? Infinity : diff / scale;
}
