import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FAMILIES, familyForClient, isFamily } from './zoo-info.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('FAMILIES lists the implemented families in assignment order', () => {
  assert.deepEqual(FAMILIES.slice(0, 3), ['resnet8', 'mobilenetv2', 'shufflenetv2']);
  assert.ok(FAMILIES.every(isFamily));
  assert.equal(isFamily('vgg'), false);
});

test('familyForClient assigns families[clientId mod n]', () => {
  const n = FAMILIES.length;
  for (let i = 0; i < 2 * n; i++) assert.equal(familyForClient(i), FAMILIES[i % n]);
  assert.equal(familyForClient(5, ['resnet8']), 'resnet8');
  assert.equal(familyForClient(3, ['resnet8', 'mobilenetv2']), 'mobilenetv2');
  assert.throws(() => familyForClient(1, []), (e) => isTinyProtoError(e, 'E_CONFIG'));
  assert.throws(() => familyForClient(-1), (e) => isTinyProtoError(e, 'E_CONFIG'));
  assert.throws(() => familyForClient(1.5), (e) => isTinyProtoError(e, 'E_CONFIG'));
});
