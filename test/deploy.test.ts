/** The service files and install script that deploy/ ships: shape checks (systemd is not run here). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';

const unit = (name: string): Map<string, string[]> => {
  const m = new Map<string, string[]>();
  for (const l of readFileSync(`deploy/${name}`, 'utf8').split('\n')) {
    const hit = /^([A-Za-z]+)=(.*)$/.exec(l);
    if (hit) m.set(hit[1]!, [...(m.get(hit[1]!) ?? []), hit[2]!]);
  }
  return m;
};

for (const [name, cmd] of [['tinyproto-agent.service', 'agent'], ['tinyproto-server.service', 'server']] as const) {
  test(`${name}: system user, restart policy, memory cap, journal, the installed bin`, () => {
    const u = unit(name);
    assert.deepEqual(u.get('User'), ['tinyproto']);
    assert.deepEqual(u.get('Restart'), ['always']);
    assert.match(u.get('MemoryMax')?.[0] ?? '', /^\d+[MG]$/);
    assert.deepEqual(u.get('StandardOutput'), ['journal']);
    assert.match(u.get('ExecStart')?.[0] ?? '', new RegExp(`^/usr/local/bin/tinyproto ${cmd} --config /etc/tinyproto/`));
    assert.ok((u.get('ReadWritePaths') ?? []).includes('/var/lib/tinyproto'));
  });
}

test('install.sh parses, and refuses to run without a role', () => {
  assert.equal(spawnSync('bash', ['-n', 'deploy/install.sh']).status, 0);
  const r = spawnSync('bash', ['deploy/install.sh'], { encoding: 'utf8', env: { ...process.env, PATH: process.env['PATH'] ?? '' } });
  assert.notEqual(r.status, 0);
});

test('deploy/agent.toml: a valid config of a long-lived fleet agent (what install.sh writes to /etc/tinyproto/agent.toml)', async () => {
  const { loadAgentConfig } = await import('../agent/config-file.ts');
  const { config, mode } = loadAgentConfig({ file: 'deploy/agent.toml', env: {}, flags: {} });
  assert.equal(mode, 'fleet');
  assert.equal(config.stateDir, '/var/lib/tinyproto');
  assert.equal(config.datasets['fashion-mnist'], '/usr/share/datasets/fashion-mnist');
  assert.match(readFileSync('deploy/install.sh', 'utf8'), /config \/etc\/tinyproto\/agent\.toml "\$\(cat "\$PREFIX\/deploy\/agent\.toml"\)"/);
});
