import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MqttFrameSizeGuard, DEFAULT_MAX_PACKET_BYTES } from './broker.ts';

/** Encode an MQTT fixed header: type byte + remaining-length varint (no body). */
function header(type: number, remainingLength: number): Buffer {
  const bytes = [type];
  let x = remainingLength;
  do {
    let b = x % 128;
    x = Math.floor(x / 128);
    if (x > 0) b |= 0x80;
    bytes.push(b);
  } while (x > 0);
  return Buffer.from(bytes);
}

function packet(type: number, bodyLength: number): Buffer {
  return Buffer.concat([header(type, bodyLength), Buffer.alloc(bodyLength, 0xaa)]);
}

describe('MqttFrameSizeGuard', () => {
  it('default limit fits a 262144-byte payload with topic and header', () => {
    // PUBLISH QoS 1: 2-byte topic length + topic + 2-byte packet id + payload.
    const topic = 'tinyproto/some-experiment-id/upload/agent-with-a-long-name-0001';
    const remaining = 2 + topic.length + 2 + 262_144;
    assert.ok(1 + 4 + remaining <= DEFAULT_MAX_PACKET_BYTES);
  });

  it('accepts packets up to the limit, including several per chunk', () => {
    const g = new MqttFrameSizeGuard(100);
    const chunk = Buffer.concat([packet(0x10, 40), packet(0xc0, 0), packet(0x30, 98)]); // 98 + 2 = 100
    assert.equal(g.feed(chunk), undefined);
  });

  it('rejects a packet one byte over the limit from its header alone', () => {
    const g = new MqttFrameSizeGuard(100);
    assert.equal(g.feed(packet(0x30, 10)), undefined);
    assert.match(g.feed(header(0x30, 99)) ?? '', /101 bytes exceeds the 100-byte limit/);
  });

  it('tracks headers and bodies split across chunks byte by byte', () => {
    const limit = 20_000;
    const ok = packet(0x30, 16_000); // 3-byte varint
    const bad = header(0x32, 20_000);
    const stream = Buffer.concat([ok, packet(0xc0, 0), bad]);
    const g = new MqttFrameSizeGuard(limit);
    let violation: string | undefined;
    let at = -1;
    for (let i = 0; i < stream.length && violation === undefined; i++) {
      violation = g.feed(stream.subarray(i, i + 1));
      at = i;
    }
    assert.match(violation ?? '', /exceeds/);
    assert.equal(at, stream.length - 1, 'detected on the last header byte, not earlier');
  });

  it('rejects a malformed 5-byte remaining length', () => {
    const g = new MqttFrameSizeGuard(1 << 30);
    assert.match(g.feed(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])) ?? '', /malformed/);
  });

  it('rejects a 256 MB announcement immediately', () => {
    const g = new MqttFrameSizeGuard(DEFAULT_MAX_PACKET_BYTES);
    assert.match(g.feed(header(0x30, 268_435_455)) ?? '', /exceeds/);
  });
});
