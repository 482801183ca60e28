import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { EXPERIMENT_FILE_KEYS, lineFinder, pickFields, validateExperimentFile } from './experiment-file.ts';

const config = (e: unknown): boolean => isTinyProtoError(e, 'E_CONFIG');

test('a document maps the flag-named keys of its sections to config fields', () => {
  const f = validateExperimentFile(
    { method: 'fedproto', rounds: 7, agents: 12, 'feature-dim': 64, mu: 'auto', data: { dir: '/d', alpha: 0.5, 'samples-per-client': 'all' }, round: { participation: 0.5, 'deadline-ms': 1000, 'min-uploads': 3 }, fleet: { link: 'lte', board: 'rpi5' } },
    'x.toml',
  );
  assert.deepEqual({ ...f }, { method: 'fedproto', rounds: 7, agents: 12, featureDim: 64, mu: 'auto', dataDir: '/d', alpha: 0.5, samplesPerClient: null, participation: 0.5, roundDeadlineMs: 1000, minUploads: 3, link: 'lte', board: 'rpi5' });
  assert.ok(Object.isFrozen(f));
  assert.deepEqual(pickFields(f, ['agents', 'samplesPerClient', 'lambda'], { agents: 'clients' }), { clients: 12, samplesPerClient: null });
  assert.ok(EXPERIMENT_FILE_KEYS.includes('round.min-uploads') && EXPERIMENT_FILE_KEYS.includes('feature-dim'));
});

test('unknown keys and sections are E_CONFIG errors naming the file, line and key', () => {
  const text = 'method = "tinyproto"\n\n[data]\nalpha = 0.1\nsampels-per-client = 3\n';
  assert.throws(() => validateExperimentFile({ method: 'tinyproto', data: { alpha: 0.1, 'sampels-per-client': 3 } }, 'e.toml', lineFinder(text)), (e) => {
    assert.ok(config(e));
    assert.match((e as Error).message, /^e\.toml:5: unknown key "data\.sampels-per-client"/);
    return true;
  });
  assert.throws(() => validateExperimentFile({ roundz: 3 }, 'e.json'), /e\.json: unknown key "roundz"/);
  assert.throws(() => validateExperimentFile({ network: { a: 1 } }, 'e.toml'), /unknown key "network"/);
  assert.throws(() => validateExperimentFile({ data: 3 }, 'e.toml'), /"data" is a section/);
  assert.throws(() => validateExperimentFile([1], 'e.toml'), config);
});

test('bad values are E_CONFIG errors naming the key, through the setup validation where it applies', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ method: 'fedsgd' }, /"method" must be one of/],
    [{ ratio: 0 }, /"ratio"/],
    [{ rounds: 1.5 }, /"rounds" must be an integer/],
    [{ agents: 0 }, /"agents" must be an integer from 1/],
    [{ families: [] }, /"families" must be a non-empty list/],
    [{ round: { participation: 0 } }, /"round\.participation" must be a number in \(0, 1\]/],
    [{ round: { 'min-uploads': '3' } }, /"round\.min-uploads"/],
    [{ data: { 'samples-per-client': 2 } }, /"data\.samples-per-client" must be an integer >= 4 or "all"/],
    [{ fleet: { link: '' } }, /"fleet\.link" must be a non-empty string/],
    [{ 'value-type': 'float64' }, /"value-type"/],
  ];
  for (const [doc, re] of bad) assert.throws(() => validateExperimentFile(doc, 'b.toml'), (e) => config(e) && re.test((e as Error).message), JSON.stringify(doc));
});

test('lineFinder finds keys in their TOML section and in JSON', () => {
  const toml = lineFinder('rounds = 1\n[data]\nalpha = 1\n[round]\n  "deadline-ms" = 5\n');
  assert.equal(toml('', 'rounds'), 1);
  assert.equal(toml('data', 'alpha'), 3);
  assert.equal(toml('round', 'deadline-ms'), 5);
  assert.equal(toml('', 'alpha'), null);
  const json = lineFinder('{\n "rounds": 1,\n "data": {\n  "alpha": 1 }\n}');
  assert.equal(json('', 'rounds'), 2);
  assert.equal(json('data', 'alpha'), 4);
});

test('mu-from and total-train-samples: the aggregator\'s mu settings, checked', () => {
  const f = validateExperimentFile({ mu: 'auto', 'mu-from': 'configured', 'total-train-samples': 52_500 }, 'x.toml');
  assert.deepEqual({ ...f }, { mu: 'auto', muFrom: 'configured', totalTrainSamples: 52_500 });
  assert.throws(() => validateExperimentFile({ 'mu-from': 'guess' }, 'x.toml'), /"mu-from" must be reported or configured/);
  assert.throws(() => validateExperimentFile({ 'total-train-samples': 0 }, 'x.toml'), /"total-train-samples" must be an integer from 1/);
});

test('the experiment id is a file key (it seeds the selection, so simulate and fleet select alike)', () => {
  assert.equal(validateExperimentFile({ experiment: 'wifi-1' }, 'e.toml').experiment, 'wifi-1');
  assert.throws(() => validateExperimentFile({ experiment: 'a b' }, 'e.toml'), (e) => config(e) && /"experiment" must be an id/.test((e as Error).message));
});
