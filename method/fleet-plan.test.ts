import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { crashesInRound, fleetPlan, hasChurn, isOffline, parseRoundRange, validateGroups } from './fleet-plan.ts';
import { lineFinder, validateExperimentFile } from './experiment-file.ts';

const where = (i: number, k: string | null): string => `f.toml[${i}${k ? `.${k}` : ''}]`;

test('round ranges: "5-8", "3" and 3; anything else is not one', () => {
  assert.deepEqual(parseRoundRange('5-8'), [5, 8]);
  assert.deepEqual(parseRoundRange(' 3 '), [3, 3]);
  assert.deepEqual(parseRoundRange(4), [4, 4]);
  for (const bad of ['8-5', '0', '0-2', 'a', '1-', -1, 2.5, null]) assert.equal(parseRoundRange(bad), null, String(bad));
});

test('groups become one plan per agent, in file order, with the fleet-wide link and board as defaults', () => {
  const groups = validateGroups(
    [
      { name: 'near', agents: 2, link: 'wifi-good' },
      { name: 'edge', agents: 1, board: 'rpi-zero-2w', offline: ['2-3', 6], 'crash-upload': [5, 4] },
    ],
    where,
  );
  const plan = fleetPlan({ agents: null, groups, link: 'lte', board: 'rpi4b' });
  assert.deepEqual(plan.map((p) => [p.id, p.index, p.group, p.link, p.board]), [
    ['agent-0', 0, 'near', 'wifi-good', 'rpi4b'],
    ['agent-1', 1, 'near', 'wifi-good', 'rpi4b'],
    ['agent-2', 2, 'edge', 'lte', 'rpi-zero-2w'],
  ]);
  const edge = plan[2]!;
  assert.deepEqual(edge.crashUpload, [4, 5]);
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7].map((r) => isOffline(edge, r)), [false, true, true, false, false, true, false]);
  assert.deepEqual([3, 4, 5].map((r) => crashesInRound(edge, r)), [false, true, true]);
  assert.ok(hasChurn(plan));
  assert.ok(!hasChurn(fleetPlan({ agents: 3, groups: null, link: null, board: null })));
});

test('group errors name the group and key; agents must add up', () => {
  const bad: [unknown, RegExp][] = [
    [[], /"group" must be a list/],
    [[{ agents: 0 }], /"group\[0\]\.agents" must be an integer/],
    [[{ agents: 1, offline: '5-8' }], /"group\[0\]\.offline" must be a list/],
    [[{ agents: 1, offline: ['8-5'] }], /"group\[0\]\.offline"/],
    [[{ agents: 1 }, { agents: 1, 'crash-upload': ['x'] }], /"group\[1\]\.crash-upload"/],
    [[{ agents: 1, offline: ['2-4'], 'crash-upload': [3] }], /names round 3, in which the group is offline/],
    [[{ agents: 1, churn: 1 }], /unknown key "group\[0\]\.churn"; known keys: group\.name/],
  ];
  for (const [v, re] of bad) assert.throws(() => validateGroups(v, where), (e) => isTinyProtoError(e, 'E_CONFIG') && re.test((e as Error).message), JSON.stringify(v));
  const groups = validateGroups([{ agents: 2 }, { agents: 3 }], where);
  assert.throws(() => fleetPlan({ agents: 4, groups, link: null, board: null }), /the groups hold 5 agents \(group-0 2, group-1 3\) but agents = 4/);
  assert.equal(fleetPlan({ agents: 5, groups, link: null, board: null }).length, 5);
  assert.throws(() => fleetPlan({ agents: null, groups: validateGroups([{ name: 'a', agents: 1 }, { name: 'a', agents: 1 }], where), link: null, board: null }), /two groups are named "a"/);
});

test('an experiment file with [[group]] tables: groups parsed, errors carry the line of the key', () => {
  const text = 'agents = 3\n[[group]]\nagents = 2\n[[group]]\nagents = 1\noffline = ["2-x"]\n';
  const doc = { agents: 3, group: [{ agents: 2 }, { agents: 1, offline: ['2-x'] }] };
  assert.throws(() => validateExperimentFile(doc, "g.toml", lineFinder(text)), (e) => /^g\.toml:6: "group\[1\]\.offline"/.test((e as Error).message));
  const ok = validateExperimentFile({ agents: 3, group: [{ agents: 2 }, { agents: 1, offline: ['2-3'] }] }, 'g.toml');
  assert.equal(ok.groups?.length, 2);
  assert.deepEqual(ok.groups?.[1]?.offline, [[2, 3]]);
});
