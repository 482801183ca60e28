import { test } from 'node:test';
import assert from 'node:assert/strict';
import { csvField, toCsv } from './csv.ts';

test('csvField quotes only when needed and doubles quotes', () => {
  assert.equal(csvField('plain'), 'plain');
  assert.equal(csvField('a,b'), '"a,b"');
  assert.equal(csvField('say "hi"'), '"say ""hi"""');
  assert.equal(csvField('two\nlines'), '"two\nlines"');
  assert.equal(csvField(' padded'), '" padded"');
  assert.equal(csvField(0.125), '0.125');
  assert.equal(csvField(null), '');
  assert.equal(csvField(undefined), '');
  assert.equal(csvField(Number.NaN), '');
  assert.equal(csvField(false), 'false');
});

test('toCsv: header, rows, CRLF line ends', () => {
  assert.equal(toCsv(['a', 'b'], [[1, 'x,y'], [null, 2]]), 'a,b\r\n1,"x,y"\r\n,2\r\n');
});
