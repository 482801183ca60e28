import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clockCheck, diskCheck, memoryCheck } from './host-checks.ts';
import { checkLine, guarded } from './check.ts';

const MB = 1024 * 1024;
test('memory: below the minimum is a problem', () => {
  assert.equal(memoryCheck(100 * MB, 512 * MB, 256).status, 'problem');
  assert.equal(memoryCheck(300 * MB, 512 * MB, 256).status, 'ok');
});
test('disk: free space from statfs of the nearest existing folder', () => {
  let asked = '';
  const r = diskCheck('/tmp/does/not/exist/agent.db', 200, (p) => ((asked = p), { bavail: 100, bsize: MB, blocks: 1000 }));
  assert.equal(asked, '/tmp');
  assert.equal(r.status, 'problem');
  assert.match(r.detail, /100 MB free of 1000 MB/);
});
test('clock: before the plausible date is a problem; unsynchronised is a warning', () => {
  assert.equal(clockCheck(new Date('1970-01-01T00:00:10Z')).status, 'problem');
  assert.equal(clockCheck(new Date('2026-06-01T00:00:00Z'), '2026-01-01T00:00:00Z', () => false).status, 'warn');
  assert.equal(clockCheck(new Date('2026-06-01T00:00:00Z'), '2026-01-01T00:00:00Z', (p) => p.includes('timesync')).status, 'ok');
});
test('guarded: a throw becomes a problem line with its code', async () => {
  const r = await guarded('x', () => {
    throw Object.assign(new Error('boom'), { code: 'E_STORE' });
  });
  assert.equal(checkLine(r), 'PROBLEM x          boom [E_STORE]');
});
