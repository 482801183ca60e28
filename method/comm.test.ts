import { test } from 'node:test';
import assert from 'node:assert/strict';
import { uploadPayloadBytes, downloadPayloadBytes } from './comm.ts';
import { makeClassMasks } from '../wire/masks.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('tinyproto upload is exactly 10x smaller than fedproto at d=500, r=10%', () => {
  const { s } = makeClassMasks({ numClasses: 10, featureDim: 500, ratio: 0.1, seed: 0 });
  assert.equal(s, 50);
  for (const held of [1, 3, 10]) {
    const tiny = uploadPayloadBytes('tinyproto', held, 500, s);
    const fed = uploadPayloadBytes('fedproto', held, 500, s);
    assert.equal(tiny, held * 200);
    assert.equal(fed, held * 2000);
    assert.equal(fed, 10 * tiny);
  }
  assert.equal(uploadPayloadBytes('local', 10, 500, s), 0);
});

test('download payload and bytesPerValue', () => {
  assert.equal(downloadPayloadBytes('tinyproto', 10, 500, 50), 2000);
  assert.equal(downloadPayloadBytes('fedproto', 10, 500, 50), 20000);
  assert.equal(downloadPayloadBytes('local', 10, 500, 50), 0);
  assert.equal(uploadPayloadBytes('tinyproto', 2, 500, 50, 2), 200);
  assert.equal(uploadPayloadBytes('tinyproto', 0, 500, 50), 0);
  assert.throws(() => uploadPayloadBytes('tinyproto', -1, 500, 50), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
  assert.throws(() => downloadPayloadBytes('fedproto', 1, 500, 50, 0), (e: unknown) => isTinyProtoError(e, 'E_CONFIG'));
});
