/** AgentProcesses with real child processes: start, graceful stop, SIGKILL after the grace, kill, restart. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AgentProcesses, type AgentExit } from './agents.ts';

/** A process that prints "up", then ends on SIGTERM (or ignores it with IGNORE=1). */
const SCRIPT = "console.log('up ' + process.pid); process.on('SIGTERM', () => { if (!process.env.IGNORE) process.exit(0); }); setInterval(() => {}, 1000);";
const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

function fleet(): { procs: AgentProcesses; lines: string[]; exits: AgentExit[]; started: string[] } {
  const lines: string[] = [];
  const exits: AgentExit[] = [];
  const started: string[] = [];
  const procs = new AgentProcesses({
    specs: [
      { id: 'a', args: ['-e', SCRIPT], env: { ...process.env } },
      { id: 'b', args: ['-e', SCRIPT], env: { ...process.env, IGNORE: '1' } },
    ],
    onLine: (id, l) => lines.push(`${id}: ${l}`),
    onExit: (e) => exits.push(e),
    onStart: (id) => started.push(id),
  });
  return { procs, lines, exits, started };
}

const until = async (f: () => boolean, ms = 10_000): Promise<void> => {
  const end = Date.now() + ms;
  while (!f() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  assert.ok(f(), 'condition not met in time');
};

test('start, graceful stop, stop escalating to SIGKILL, kill, restart with a new PID', { timeout: 30_000 }, async () => {
  const { procs, lines, exits, started } = fleet();
  try {
    const a = procs.start('a');
    const b = procs.start('b');
    assert.throws(() => procs.start('a'), /runs already/);
    assert.throws(() => procs.start('x'), /no agent "x"/);
    // wait for each script's own line: the signal handler is installed right after it (other
    // output, e.g. a runtime warning on stderr, must not count as started)
    const ups = (id: string): number => lines.filter((l) => l.startsWith(`${id}: up `)).length;
    await until(() => ups('a') === 1 && ups('b') === 1);
    assert.deepEqual(started, ['a', 'b']);
    assert.ok(procs.isRunning('a') && procs.pid('a') === a);
    // a stops on SIGTERM; b ignores it and is killed after the grace
    const [ea, eb] = await Promise.all([procs.stop('a', 5_000), procs.stop('b', 300)]);
    assert.deepEqual([ea!.code, ea!.signal, ea!.requested], [0, null, true]);
    assert.deepEqual([eb!.signal, eb!.requested], ['SIGKILL', true]);
    assert.equal(procs.isRunning('a'), false);
    assert.equal(procs.pid('a'), null);
    assert.equal(await procs.stop('a'), null, 'stopping a stopped agent does nothing');
    assert.ok(!alive(a) && !alive(b));
    // restart: same spec, a new process; kill: SIGKILL at once
    const a2 = await procs.restart('a');
    assert.notEqual(a2, a);
    await until(() => ups('a') === 2);
    const k = await procs.kill('a');
    assert.equal(k!.signal, 'SIGKILL');
    assert.equal(alive(a2), false);
    assert.equal(exits.length, 3);
  } finally {
    await procs.stopAll(1_000);
  }
});
