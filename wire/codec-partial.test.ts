/** PARTIAL (type 8): golden bytes, both directions, exact decode errors, seeded fuzz. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeMessage, decodePartial, encodePartial, MessageType, type PartialBody } from './codec.ts';
import { TinyProtoError } from '../common/errors.ts';
import { Rng } from '../common/rng.ts';
import { fixCrc, hexToBytes, rawFrame, throwsExactly, toHex } from '../test/helpers/codec.ts';

const R1 = { experiment: 'e1', sender: 'r1', round: 1 };

export const PARTIAL_HEX = [
  '5450', // magic "TP"
  '01', // version 1
  '08', // type 8 = PARTIAL
  '00', // flags
  '02 6531', // experiment "e1"
  '02 7231', // sender "r1" (the relay)
  '01000000', // round 1
  '35000000', // payload length 53
  '0a00', // K = 10
  '1400', // d = 20
  '0200', // s = 2
  '00', // layout 0 = sparse
  '0200', // A = 2 agents
  '0202', // presence bitmap: classes 1 and 9
  '0200', // class 1: 2 contributors
  '000000000000f83f 00000000000000c0', // class 1 sums f64 1.5, -2
  '0100', // class 9: 1 contributor
  '000000000000d03f 0000000000000000', // class 9 sums f64 0.25, 0
  '02 6131', // agent "a1"
  '02 6132', // agent "a2"
  '8cc06f72', // CRC-32 0x726fc08c (computed independently with zlib)
].join(' ');

const BODY: PartialBody = {
  K: 10,
  d: 20,
  s: 2,
  layout: 'sparse',
  // out of order on input: the encoder sorts classes and agents
  classes: [
    { classId: 9, contributors: 1, sums: Float64Array.of(0.25, 0) },
    { classId: 1, contributors: 2, sums: Float64Array.of(1.5, -2) },
  ],
  agents: ['a2', 'a1'],
};

test('golden: PARTIAL encodes to the documented bytes and decodes back', () => {
  const bytes = encodePartial(R1, BODY);
  assert.equal(toHex(bytes), PARTIAL_HEX.replace(/ /g, ''));
  const m = decodePartial(hexToBytes(PARTIAL_HEX), { experiment: 'e1', round: 1, K: 10, d: 20, s: 2 });
  assert.equal(m.type, MessageType.Partial);
  assert.equal(m.header.sender, 'r1');
  assert.deepEqual(m.body, { K: 10, d: 20, s: 2, layout: 'sparse', classes: [BODY.classes[1], BODY.classes[0]], agents: ['a1', 'a2'] });
  assert.equal(decodeMessage(bytes).type, MessageType.Partial);
});

test('PARTIAL keeps float64 sums exactly (no float32 rounding)', () => {
  const sums = Float64Array.of(0.1 + 0.2, 1e300, -Number.MIN_VALUE);
  const m = decodePartial(encodePartial(R1, { K: 2, d: 3, s: 3, layout: 'dense', classes: [{ classId: 0, contributors: 1, sums }], agents: ['x'] }));
  assert.deepEqual([...m.body.classes[0]!.sums], [...sums]);
});

test('PROTOCOL.md shows the PARTIAL golden message', async () => {
  const { readFileSync } = await import('node:fs');
  const md = readFileSync(new URL('../PROTOCOL.md', import.meta.url), 'utf8');
  const inline = [...md.matchAll(/`(5450[0-9a-f ]+)`/g)].map((m) => m[1]!.replace(/ /g, ''));
  assert.ok(inline.includes(PARTIAL_HEX.replace(/ /g, '')));
});

// the golden payload split, so each error case changes one field
const SHAPE = '0a00 1400 0200 00';
const CLASS1 = '0200 000000000000f83f 00000000000000c0';
const CLASS9 = '0100 000000000000d03f 0000000000000000';
const AGENTS = '02 6131 02 6132';
const part = (o: { shape?: string; A?: string; bitmap?: string; c1?: string; c9?: string; agents?: string }): Uint8Array =>
  rawFrame({ type: 8, sender: 'r1', payload: [o.shape ?? SHAPE, o.A ?? '0200', o.bitmap ?? '0202', o.c1 ?? CLASS1, o.c9 ?? CLASS9, o.agents ?? AGENTS].join(' ') });

test('PARTIAL decode errors are exact', () => {
  assert.equal(toHex(part({})), PARTIAL_HEX.replace(/ /g, ''));
  throwsExactly(() => decodePartial(part({}), { K: 12 }), 'E_SHAPE', 'partial: K = 10 does not match expected K = 12');
  throwsExactly(() => decodePartial(part({ shape: '0a00 1400 0300 01' })), 'E_SHAPE', 'partial: dense layout needs s = d, got s = 3, d = 20');
  throwsExactly(() => decodePartial(part({ shape: '0a00 1400 0200 02' })), 'E_CODEC_FIELD', 'partial: layout 2 is not defined (0..1)');
  throwsExactly(() => decodePartial(part({ A: '0000' })), 'E_CODEC_FIELD', 'partial: a partial sums at least one upload, got 0 agents');
  throwsExactly(() => decodePartial(part({ bitmap: '0206' })), 'E_SHAPE', 'partial: presence bitmap has bits set beyond K = 10 (last byte 0x06)');
  throwsExactly(() => decodePartial(part({ c1: '0300 000000000000f83f 00000000000000c0' })), 'E_CODEC_FIELD', 'partial: class 1 has 3 contributors, expected 1..2 (the agent count)');
  throwsExactly(() => decodePartial(part({ c9: '0000 000000000000d03f 0000000000000000' })), 'E_CODEC_FIELD', 'partial: class 9 has 0 contributors, expected 1..2 (the agent count)');
  throwsExactly(() => decodePartial(part({ c9: '0100 000000000000f07f 0000000000000000' })), 'E_NON_FINITE', 'partial: class 9 sum 0 is not finite (Infinity)');
  throwsExactly(() => decodePartial(part({ c9: '0100 000000000000d03f', agents: '' })), 'E_CODEC_TRUNCATED', 'partial: truncated: class 9 sums needs 16 bytes at payload offset 31, 8 remain');
  throwsExactly(() => decodePartial(part({ agents: '02 6132 02 6131' })), 'E_CODEC_FIELD', 'partial: agent ids must be unique and in increasing order, got "a1" after "a2"');
  throwsExactly(() => decodePartial(part({ agents: '02 6131 02 6131' })), 'E_CODEC_FIELD', 'partial: agent ids must be unique and in increasing order, got "a1" after "a1"');
  throwsExactly(() => decodePartial(part({ agents: '02 6131' })), 'E_CODEC_TRUNCATED', 'partial: truncated: agent id length needs 1 bytes at payload offset 50, 0 remain');
  throwsExactly(() => decodePartial(part({ agents: `${AGENTS} 00` })), 'E_CODEC_TRAILING', 'partial: payload declares 54 bytes but the body uses 53');
  throwsExactly(() => decodePartial(part({}), { round: 2 }), 'E_ROUND', 'partial: round 1 does not match expected round 2');
});

test('PARTIAL encode errors', () => {
  const bad = (b: Partial<PartialBody>): Uint8Array => encodePartial(R1, { ...BODY, ...b });
  throwsExactly(() => bad({ agents: [] }), 'E_CODEC_FIELD', 'partial: agent count must be an integer in [1, 65535], got 0');
  throwsExactly(() => bad({ agents: ['a1', 'a1'] }), 'E_CODEC_FIELD', 'partial: agent "a1" appears more than once');
  throwsExactly(() => bad({ classes: [{ classId: 1, contributors: 3, sums: Float64Array.of(1, 2) }] }), 'E_CODEC_FIELD', 'partial: class 1 contributors must be an integer in [1, 2], got 3');
  throwsExactly(() => bad({ classes: [{ classId: 1, contributors: 1, sums: Float64Array.of(1, NaN) }] }), 'E_NON_FINITE', 'partial: class 1 sum 1 is not finite (NaN)');
  throwsExactly(() => bad({ classes: [{ classId: 10, contributors: 1, sums: Float64Array.of(1, 2) }] }), 'E_SHAPE', 'partial: class id 10 out of range [0, 10)');
});

// ------------------------------------------------------------------------------------ fuzz

function randomPartial(rng: Rng): PartialBody {
  const K = 1 + rng.int(20);
  const d = 1 + rng.int(40);
  const dense = rng.int(2) === 0;
  const s = dense ? d : 1 + rng.int(d);
  const names = new Set<string>();
  const A = 1 + rng.int(12);
  while (names.size < A) names.add(`a${rng.int(1000)}`);
  const classes = [];
  for (let j = 0; j < K; j++) {
    if (rng.int(3) === 0) continue;
    const sums = new Float64Array(s);
    for (let t = 0; t < s; t++) sums[t] = rng.normal() * [1e-8, 1, 1e6][rng.int(3)]!;
    classes.push({ classId: j, contributors: 1 + rng.int(A), sums });
  }
  return { K, d, s, layout: dense ? 'dense' : 'sparse', classes, agents: [...names] };
}

test('fuzz: random PARTIALs round-trip; mutated ones decode or throw a TinyProtoError', () => {
  const rng = new Rng(20261202);
  for (let n = 0; n < 300; n++) {
    const body = randomPartial(rng);
    const bytes = encodePartial({ experiment: 'e1', sender: `r${n}`, round: 1 + rng.int(100) }, body);
    const back = decodePartial(bytes).body;
    assert.deepEqual(back.agents, [...body.agents].sort());
    assert.deepEqual(back.classes.map((c) => c.classId), body.classes.map((c) => c.classId));
    back.classes.forEach((c, i) => assert.deepEqual([...c.sums], [...body.classes[i]!.sums]));
    assert.equal(toHex(encodePartial(decodePartial(bytes).header, back)), toHex(bytes), 'canonical');
    for (let m = 0; m < 10; m++) {
      const mutated = Uint8Array.from(bytes);
      const at = rng.int(mutated.length - 4);
      mutated[at] = rng.int(256);
      if (rng.int(2) === 0) fixCrc(mutated);
      try {
        decodePartial(mutated);
      } catch (e) {
        assert.ok(e instanceof TinyProtoError, `not a TinyProtoError: ${String(e)}`);
      }
    }
  }
});
