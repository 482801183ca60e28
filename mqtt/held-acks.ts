/**
 * Deferred PUBACKs (MqttSession's opt-in `holdAcks`): a QoS 1 message is acknowledged to the
 * broker only when its handler says so (after the message is durable), so the broker keeps and
 * redelivers whatever the receiver had not secured when its connection or process died.
 *
 * MQTT.js has no public API for this. Its packet pump emits 'message', then calls
 * `client.handleMessage(packet, cb)` and sends the PUBACK from `cb` — and handles no further
 * packet until `cb` runs, so holding `cb` would serialise the whole stream. Instead `cb` is
 * called at once with an error (the pump ignores it and moves on, sending no PUBACK), and the
 * PUBACK is written later with the client's own packet writer `_sendPacket` (mqtt 5.x).
 */
import { TinyProtoError } from '../common/errors.ts';

/** Sends the PUBACK of a message received with holdAcks (idempotent; a no-op otherwise). */
export type MessageAck = () => void;
export type MessageHandler = (topic: string, payload: Uint8Array, ack: MessageAck) => void;
export const NO_ACK: MessageAck = () => undefined;

interface HoldableClient {
  handleMessage?: (packet: { qos?: number; messageId?: number }, cb: (err?: Error) => void) => void;
  _sendPacket?: (packet: Record<string, unknown>) => void;
}

const ACK_HELD = new Error('PUBACK held until the handler acknowledges');

/** Makes the client skip its automatic PUBACK for QoS 1 messages. E_CONFIG for a client that cannot. */
export function holdPubacks(client: HoldableClient): void {
  if (typeof client._sendPacket !== 'function') throw new TinyProtoError('E_CONFIG', 'holdAcks needs an MQTT.js 5 client (it has no _sendPacket)');
  client.handleMessage = (packet, cb) => (packet.qos === 1 ? cb(ACK_HELD) : cb());
}

/**
 * The PUBACK of one QoS 1 message, sent once and only while `live()` (the same connection is
 * up: after a reconnection the broker redelivers the message, and this packet id would name
 * another one). QoS 0 messages have nothing to acknowledge.
 */
export function deferredAck(client: HoldableClient, packet: { qos?: number; messageId?: number } | undefined, live: () => boolean): MessageAck {
  if (packet?.qos !== 1 || typeof packet.messageId !== 'number') return NO_ACK;
  const messageId = packet.messageId;
  let sent = false;
  return () => {
    if (sent) return;
    sent = true;
    if (live()) client._sendPacket?.({ cmd: 'puback', messageId, reasonCode: 0 });
  };
}
