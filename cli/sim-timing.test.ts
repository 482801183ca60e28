/**
 * simulate's simulated links and boards from an experiment file and flags: the [[group]] tables
 * give the clients and each one's link, board and churn (cli/sim-timing.ts); --no-timing and
 * files without profiles keep the plain simulation and say what they ignore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { parseSimulateArgs } from './simulate.ts';
import { isTinyProtoError } from '../common/errors.ts';

test('simulate: [[group]] tables give the clients and their timing; --no-timing says what it ignores', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tp-sim-timing-'));
  try {
    const path = join(dir, 'g.toml');
    writeFileSync(path, '[round]\nclose-at = 3\n[[group]]\nagents = 3\nboard = "rpi5"\n[[group]]\nname = "edge"\nagents = 2\nlink = "wifi-weak"\noffline = ["2-3"]\n');
    const { config, ignored } = parseSimulateArgs(['--experiment-file', path]);
    assert.equal(config.clients, 5);
    assert.deepEqual(ignored, []);
    assert.deepEqual(config.timing?.clients.map((c) => [c.group, c.linkName, c.board]), [...Array(3).fill(['group-0', null, 'rpi5']), ...Array(2).fill(['edge', 'wifi-weak', null])]);
    assert.equal(config.timing?.closeAt, 3);
    const off = parseSimulateArgs(['--experiment-file', path, '--no-timing', '--deadline-ms', '5000']);
    assert.equal(off.config.timing, undefined);
    assert.deepEqual(off.ignored, ['round.close-at', '--deadline-ms', 'the [[group]] links, boards and churn']);
    // --link alone times every client on that link; a flag's board that is not emulated times nothing
    assert.equal(parseSimulateArgs(['--link', 'lte', '--clients', '2']).config.timing?.clients[1]?.linkName, 'lte');
    assert.equal(parseSimulateArgs(['--board', 'rpi3bplus']).config.timing, undefined);
    assert.throws(() => parseSimulateArgs(['--experiment-file', path, '--clients', '4']), (e: unknown) => isTinyProtoError(e, 'E_CONFIG') && /the groups hold 5 agents/.test((e as Error).message));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
