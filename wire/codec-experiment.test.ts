import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assignmentOf, decodeExperiment, decodeMessage, encodeExperiment, MessageType, peekHeader, type ExperimentBody } from './codec.ts';
import { ed25519Signer, generateSigningKey, ed25519Verifier } from './signature.ts';
import { signFrame } from './sign-frame.ts';
import { TinyProtoError, type ErrorCode } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import { fixCrc, hexToBytes, rawFrame, throwsExactly, toHex } from '../test/helpers/codec.ts';

const AGG = { experiment: 'e1', sender: 'agg', round: 0 };

const LIST_BODY: ExperimentBody = {
  state: 'open',
  method: 'tinyproto',
  fleet: 'f1',
  dataset: 'fmnist',
  source: 'idx',
  numClasses: 10,
  featureDim: 20,
  clients: 2,
  alpha: 0.5,
  seed: 1,
  samplesPerClient: 100,
  assignment: {
    mode: 'list',
    agents: [
      { agent: 'a1', client: 0, family: null },
      { agent: 'a2', client: 1, family: 'resnet8' },
    ],
  },
};

const LIST_HEX = [
  '5450 01 09 00 026531 03616767', // magic, v1, type 9 = EXPERIMENT, flags, "e1", "agg"
  '00000000', // round 0
  '3f000000', // payload length 63
  '00', // state 0 = open
  '00', // method 0 = tinyproto
  '02 6631', // fleet "f1"
  '06 666d6e697374', // data set "fmnist"
  '00', // source 0 = idx
  '0a00 1400', // K 10, d 20
  '02000000', // clients 2
  '000000000000e03f', // alpha f64 0.5
  '01000000', // seed 1
  '64000000', // cap 100
  '00', // assignment 0 = list
  '0200', // 2 agents
  '02 6131 00000000 00', // "a1" -> client 0, family by index
  '02 6132 01000000 07 7265736e657438', // "a2" -> client 1, "resnet8"
  '52fb2568', // CRC-32 0x6825fb52
].join('');

const NUMBERED_BODY: ExperimentBody = {
  state: 'ended',
  method: 'fedproto',
  fleet: 'f1',
  dataset: 'cifar',
  source: 'cifar',
  numClasses: 10,
  featureDim: 64,
  clients: 16,
  alpha: 1,
  seed: 7,
  samplesPerClient: null,
  assignment: { mode: 'numbered', prefix: 'agent-' },
};

const NUMBERED_HEX = [
  '5450 01 09 00 026531 03616767 00000000',
  '2c000000', // payload length 44
  '01 01', // ended, fedproto
  '02 6631 05 6369666172 01', // fleet "f1", data set "cifar", source 1 = cifar
  '0a00 4000 10000000', // K 10, d 64, clients 16
  '000000000000f03f 07000000 00000000', // alpha 1, seed 7, cap 0 = all
  '01 06 6167656e742d', // numbered, prefix "agent-"
  'e1528798',
].join('');

test('golden: EXPERIMENT with an explicit assignment list', () => {
  assert.equal(toHex(encodeExperiment(AGG, LIST_BODY)), LIST_HEX.replace(/ /g, ''));
  const m = decodeExperiment(hexToBytes(LIST_HEX), { experiment: 'e1' });
  assert.deepEqual(m.body, LIST_BODY);
  assert.equal(m.header.sender, 'agg');
  assert.equal(peekHeader(hexToBytes(LIST_HEX)).type, MessageType.Experiment);
  const any = decodeMessage(hexToBytes(LIST_HEX));
  assert.equal(any.type, MessageType.Experiment);
});

test('golden: EXPERIMENT ended, with the numbered rule', () => {
  assert.equal(toHex(encodeExperiment(AGG, NUMBERED_BODY)), NUMBERED_HEX.replace(/ /g, ''));
  assert.deepEqual(decodeExperiment(hexToBytes(NUMBERED_HEX)).body, NUMBERED_BODY);
});

test('assignmentOf: list entries, the numbered rule, and agents not taking part', () => {
  assert.deepEqual(assignmentOf(LIST_BODY, 'a2'), { client: 1, family: 'resnet8' });
  assert.equal(assignmentOf(LIST_BODY, 'a3'), null);
  assert.deepEqual(assignmentOf(NUMBERED_BODY, 'agent-15'), { client: 15, family: null });
  assert.equal(assignmentOf(NUMBERED_BODY, 'agent-16'), null); // beyond clients
  assert.equal(assignmentOf(NUMBERED_BODY, 'agent-07'), null); // leading zero: not the canonical name
  assert.equal(assignmentOf(NUMBERED_BODY, 'board-1'), null);
});

test('EXPERIMENT signs like every aggregator message and verifies', () => {
  const key = generateSigningKey();
  const signer = ed25519Signer(key.privateKeyPem);
  const frame = signFrame(encodeExperiment(AGG, LIST_BODY), signer, { embedKey: true });
  assert.deepEqual(frame, encodeExperiment(AGG, LIST_BODY, { signer, embedKey: true }));
  assert.deepEqual(decodeExperiment(frame, { verifier: ed25519Verifier(key.publicKey) }).body, LIST_BODY);
  const other = ed25519Verifier(generateSigningKey().publicKey);
  throwsExactly(() => decodeExperiment(frame, { verifier: other }), 'E_CODEC_SIGNATURE', 'experiment: signature from "agg" does not verify');
});

/** The LIST golden body with bytes replaced at payload offset `at`. */
function patched(at: number, hex: string): Uint8Array {
  const b = hexToBytes(LIST_HEX);
  const h = peekHeader(b);
  b.set(hexToBytes(hex), h.headerLength + at);
  return fixCrc(b);
}

test('EXPERIMENT decode errors: exact codes and messages', () => {
  throwsExactly(() => decodeExperiment(patched(0, '02')), 'E_CODEC_FIELD', 'experiment: state 2 is not defined (0..1)');
  throwsExactly(() => decodeExperiment(patched(1, '03')), 'E_CODEC_FIELD', 'experiment: method 3 is not defined (0..2)');
  throwsExactly(() => decodeExperiment(patched(12, '03')), 'E_CODEC_FIELD', 'experiment: data source kind 3 is not defined (0..2)');
  throwsExactly(() => decodeExperiment(patched(13, '0100')), 'E_CODEC_FIELD', 'experiment: K must be >= 2, got 1');
  throwsExactly(() => decodeExperiment(patched(15, '0500')), 'E_CODEC_FIELD', 'experiment: d 5 is below K 10');
  throwsExactly(() => decodeExperiment(patched(17, '00000000')), 'E_CODEC_FIELD', 'experiment: clients must be 1..100000, got 0');
  throwsExactly(() => decodeExperiment(patched(21, '000000000000f87f')), 'E_NON_FINITE', 'experiment: alpha is not finite (NaN)');
  throwsExactly(() => decodeExperiment(patched(21, '0000000000000000')), 'E_CODEC_FIELD', 'experiment: alpha must be in (0, 1e6], got 0');
  throwsExactly(() => decodeExperiment(patched(33, '03000000')), 'E_CODEC_FIELD', 'experiment: samples-per-client cap must be 0 (all) or >= 4, got 3');
  throwsExactly(() => decodeExperiment(patched(37, '02')), 'E_CODEC_FIELD', 'experiment: assignment mode 2 is not defined (0..1)');
  throwsExactly(() => decodeExperiment(patched(38, '0000')), 'E_CODEC_FIELD', 'experiment: assigned agent count must be 1..4096, got 0');
  throwsExactly(() => decodeExperiment(patched(43, '02000000')), 'E_CODEC_FIELD', 'experiment: agent "a1" has client index 2, must be < clients 2');
  throwsExactly(() => decodeExperiment(patched(43, '01000000')), 'E_CODEC_FIELD', 'experiment: agents "a1" and "a2" share client index 1');
  throwsExactly(() => decodeExperiment(patched(50, '31')), 'E_CODEC_FIELD', 'experiment: agent "a1" is assigned twice');
  throwsExactly(() => decodeExperiment(patched(3, '21')), 'E_CODEC_FIELD', 'experiment: fleet id contains invalid character 0x21 at position 0 (allowed: A-Za-z0-9._-)');
  throwsExactly(() => decodeExperiment(patched(38, '0300')), 'E_CODEC_TRUNCATED', 'experiment: truncated: assigned agent id length needs 1 bytes at payload offset 63, 0 remain');
  const long = rawFrame({ type: 9, experiment: 'e1', sender: 'agg', round: 0, payload: toHex(hexToBytes(LIST_HEX).subarray(peekHeader(hexToBytes(LIST_HEX)).headerLength, -4)) + '00' });
  throwsExactly(() => decodeExperiment(long), 'E_CODEC_TRAILING', 'experiment: payload declares 64 bytes but the body uses 63');
  throwsExactly(() => decodeExperiment(rawFrame({ type: 8, payload: '' })), 'E_CODEC_TYPE', 'experiment: expected message type 9 (EXPERIMENT), got 8 (PARTIAL)');
  throwsExactly(() => decodeExperiment(rawFrame({ type: 10, payload: '' })), 'E_CODEC_TYPE', 'experiment: unknown message type 10');
  throwsExactly(() => decodeExperiment(hexToBytes(LIST_HEX), { experiment: 'e2' }), 'E_EXPERIMENT', 'experiment: experiment "e1" does not match expected "e2"');
});

test('EXPERIMENT encode errors name the field', () => {
  throwsExactly(() => encodeExperiment(AGG, { ...LIST_BODY, source: 'png' as never }), 'E_CODEC_FIELD', 'experiment: data source kind must be one of idx, cifar, image-folder, got png');
  throwsExactly(() => encodeExperiment(AGG, { ...LIST_BODY, samplesPerClient: 3 }), 'E_CODEC_FIELD', 'experiment: samples-per-client cap must be an integer in [4, 4294967295], got 3');
  throwsExactly(() => encodeExperiment(AGG, { ...LIST_BODY, alpha: Infinity }), 'E_NON_FINITE', 'experiment: alpha is not finite (Infinity)');
  throwsExactly(() => encodeExperiment(AGG, { ...LIST_BODY, assignment: { mode: 'list', agents: [] } }), 'E_CODEC_FIELD', 'experiment: assigned agent count must be an integer in [1, 4096], got 0');
  throwsExactly(() => encodeExperiment(AGG, { ...LIST_BODY, assignment: { mode: 'numbered', prefix: 'x'.repeat(32) } }), 'E_CODEC_FIELD', 'experiment: agent id prefix has 32 characters, must be 0..31');
});

function randomBody(rng: Rng): ExperimentBody {
  const clients = 1 + rng.int(50);
  const K = 2 + rng.int(20);
  const idx = Array.from({ length: clients }, (_, i) => i).sort(() => rng.next() - 0.5);
  const n = 1 + rng.int(clients);
  return {
    state: rng.int(2) === 0 ? 'open' : 'ended',
    method: (['tinyproto', 'fedproto', 'local'] as const)[rng.int(3)]!,
    fleet: `f${rng.int(1000)}`,
    dataset: ['fashion-mnist', 'cifar10', 'photos'][rng.int(3)]!,
    source: (['idx', 'cifar', 'image-folder'] as const)[rng.int(3)]!,
    numClasses: K,
    featureDim: K + rng.int(600),
    clients,
    alpha: [0.1, 0.5, 1, 1e-3, 123.25][rng.int(5)]!,
    seed: rng.nextUint32(),
    samplesPerClient: rng.int(2) === 0 ? null : 4 + rng.int(5000),
    assignment:
      rng.int(3) === 0
        ? { mode: 'numbered', prefix: ['', 'agent-', 'pi.'][rng.int(3)]! }
        : { mode: 'list', agents: idx.slice(0, n).map((client, i) => ({ agent: `b${i}`, client, family: rng.int(2) === 0 ? null : 'resnet8' })) },
  };
}

test('fuzz: random EXPERIMENT bodies round-trip; mutations are rejected with a TinyProtoError or decode, never throw otherwise', () => {
  const rng = new Rng(909);
  const seen = new Map<ErrorCode, number>();
  let decoded = 0;
  for (let iter = 0; iter < 3000; iter++) {
    const body = randomBody(rng);
    const src = encodeExperiment({ experiment: 'e1', sender: 'aggregator', round: 0 }, body);
    assert.deepEqual(decodeExperiment(src).body, body);
    const { headerLength, payloadLength } = peekHeader(src);
    const kind = rng.int(3);
    let b: Uint8Array;
    if (kind === 0) b = src.slice(0, rng.int(src.length));
    else {
      b = src.slice();
      for (let k = 1 + rng.int(3); k > 0; k--) {
        const at = headerLength + rng.int(payloadLength);
        b[at] = kind === 1 ? b[at]! ^ (1 << rng.int(8)) : rng.int(256);
      }
      if (rng.int(4) !== 0) fixCrc(b);
    }
    try {
      const m = decodeMessage(b);
      if (m.type === MessageType.Experiment) assert.deepEqual(encodeExperiment(m.header, m.body), b); // canonical
      decoded++;
    } catch (e) {
      if (e instanceof assert.AssertionError) throw e;
      assert.ok(e instanceof TinyProtoError, `non-TinyProtoError thrown: ${String(e)}`);
      seen.set(e.code, (seen.get(e.code) ?? 0) + 1);
    }
  }
  assert.ok(decoded > 50, `only ${decoded} mutants decoded`);
  for (const code of ['E_CODEC_FIELD', 'E_CODEC_TRUNCATED', 'E_CODEC_CRC']) {
    assert.ok((seen.get(code as ErrorCode) ?? 0) > 0, `experiment fuzz never produced ${code}: ${JSON.stringify([...seen])}`);
  }
});
