import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkDataSource } from './supervisor.ts';
import { TinyProtoError } from '../common/errors.ts';

const IDX = 'test/fixtures/data/idx-mini';
const CIFAR = 'test/fixtures/data/cifar-mini';

function throwsCode(fn: () => void, code: string, message: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof TinyProtoError && e.code === code && message.test(e.message));
}

test('checkDataSource: the announced kind must be one this build loads, and what the directory holds', () => {
  checkDataSource('e1', 'idx', IDX, false);
  checkDataSource('e1', 'cifar', CIFAR, false);
  throwsCode(() => checkDataSource('e1', 'image-folder', IDX, false), 'E_DATA_SOURCE', new RegExp(`^experiment "e1" announces an image-folder data set, but ${IDX} holds idx files$`));
  throwsCode(() => checkDataSource('e1', 'cifar', IDX, false), 'E_DATA_SOURCE', new RegExp(`^experiment "e1" announces a cifar data set, but ${IDX} holds idx files$`));
  throwsCode(() => checkDataSource('e1', 'idx', CIFAR, false), 'E_DATA_SOURCE', /holds cifar10 files$/);
  throwsCode(() => checkDataSource('e1', 'idx', 'test/fixtures/data/none', false), 'E_DATA_MISSING', /none/);
  // a shard already cached in the experiment's store needs no data directory
  checkDataSource('e1', 'cifar', 'test/fixtures/data/none', true);
});
