/**
 * The sizes `npm run bench:comm` reports must be the codec's: no network, no training.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { globalSize, uploadSize, frameOverhead, MQTT_MAX_PACKET_BYTES } from '../wire/codec.ts';
import { uploadPayloadBytes, downloadPayloadBytes } from '../method/comm.ts';
import {
  CLASS_COUNTS,
  COMM_SETTING,
  ENCODINGS,
  frameBytes,
  globalMessageBytes,
  globalTopic,
  makeGlobalMessage,
  makeUploadMessage,
  mqttPublishBytes,
  payloadBytes,
  uploadMessageBytes,
  uploadTopic,
  type Encoding,
} from './comm-sizes.ts';

const ids = { experiment: COMM_SETTING.experiment, sender: COMM_SETTING.agent };
const aggIds = { experiment: COMM_SETTING.experiment, sender: COMM_SETTING.aggregator };
const enc = (label: string): Encoding => {
  const e = ENCODINGS.find((x) => x.label === label);
  assert.ok(e, label);
  return e;
};

test('payload arithmetic is METHOD.md\'s: 200 B per class for TinyProto float32, 2,000 for FedProto', () => {
  assert.equal(payloadBytes(enc('TinyProto float32'), 1), 200);
  assert.equal(payloadBytes(enc('FedProto float32'), 1), 2000);
  assert.equal(payloadBytes(enc('TinyProto float16'), 1), 100);
  assert.equal(payloadBytes(enc('TinyProto int8'), 1), 54); // 50 values + f32 scale
  for (const n of CLASS_COUNTS) {
    const { d, s } = COMM_SETTING;
    assert.equal(payloadBytes(enc('TinyProto float32'), n), uploadPayloadBytes('tinyproto', n, d, s));
    assert.equal(payloadBytes(enc('FedProto float32'), n), uploadPayloadBytes('fedproto', n, d, s));
    assert.equal(payloadBytes(enc('TinyProto float16'), n), uploadPayloadBytes('tinyproto', n, d, s, 2));
    assert.equal(payloadBytes(enc('FedProto float32'), n), downloadPayloadBytes('fedproto', n, d, s));
  }
});

test('frame overhead matches the codec (34 B for cifar10 / agent-01)', () => {
  assert.equal(frameBytes(COMM_SETTING.experiment, COMM_SETTING.agent), 34);
  assert.equal(frameBytes(COMM_SETTING.experiment, COMM_SETTING.agent), frameOverhead(COMM_SETTING.experiment, COMM_SETTING.agent));
  assert.equal(frameBytes(COMM_SETTING.experiment, COMM_SETTING.aggregator), frameOverhead(COMM_SETTING.experiment, COMM_SETTING.aggregator));
});

test('upload message sizes = uploadSize = encoded length, for every encoding and class count', () => {
  for (const e of ENCODINGS) {
    for (const n of CLASS_COUNTS) {
      const expected = uploadMessageBytes(e, n);
      assert.equal(expected, uploadSize(COMM_SETTING.K, n, e.s, e.valueType, ids, true), `${e.label} ${n} classes`);
      assert.equal(makeUploadMessage(e, n).length, expected, `${e.label} ${n} classes encoded`);
    }
  }
  // PROTOCOL.md §6's table (3 classes), with the agents' 4-byte training-sample count
  assert.equal(uploadMessageBytes(enc('TinyProto float32'), 3), 648);
  assert.equal(uploadMessageBytes(enc('TinyProto float16'), 3), 348);
  assert.equal(uploadMessageBytes(enc('TinyProto int8'), 3), 210);
  assert.equal(uploadMessageBytes(enc('FedProto float32'), 3), 6048);
  assert.equal(uploadSize(COMM_SETTING.K, 3, enc('TinyProto float32').s, 'float32', ids), 644, 'without the count');
});

test('global message sizes = globalSize = encoded length', () => {
  for (const e of ENCODINGS) {
    for (const n of [1, 3, COMM_SETTING.K]) {
      const expected = globalMessageBytes(e, n);
      assert.equal(expected, globalSize(COMM_SETTING.K, n, e.s, e.valueType, aggIds), `${e.label} ${n} classes`);
      assert.equal(makeGlobalMessage(e, n).length, expected, `${e.label} ${n} classes encoded`);
    }
  }
});

test('MQTT framing arithmetic (QoS 1 PUBLISH)', () => {
  const topic = uploadTopic();
  assert.equal(topic, 'tinyproto/cifar10/upload/agent-01');
  assert.equal(globalTopic(), 'tinyproto/cifar10/global');
  // 1 fixed header + 2-byte remaining length + (2 + 33 topic + 2 packet id + 644)
  assert.equal(mqttPublishBytes(topic, 644, 4), 1 + 2 + 2 + 33 + 2 + 644);
  // MQTT 5 adds the properties length (one 0 byte when there are none)
  assert.equal(mqttPublishBytes(topic, 644, 5), mqttPublishBytes(topic, 644, 4) + 1);
  // small payloads use a 1-byte remaining length; >= 16384 a 3-byte one
  assert.equal(mqttPublishBytes(topic, 10, 4), 1 + 1 + 2 + 33 + 2 + 10);
  assert.equal(mqttPublishBytes(topic, 20_044, 4), 1 + 3 + 2 + 33 + 2 + 20_044);
  // every benchmarked message fits the broker's packet limit
  const largest = globalMessageBytes(enc('FedProto float32'), COMM_SETTING.K);
  assert.ok(mqttPublishBytes(globalTopic(), largest, 5, 64) < MQTT_MAX_PACKET_BYTES);
});
