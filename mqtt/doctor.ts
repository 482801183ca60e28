/**
 * Broker check for `tinyproto doctor`: one connection attempt with the agent's own settings
 * (URL, credentials, TLS files, protocol version), classified like every other connection
 * (E_MQTT_UNREACHABLE | E_MQTT_AUTH | E_MQTT_TLS | E_MQTT_REFUSED).
 *
 * It connects with the agent's client id and session expiry (the broker maps a session to the
 * credentials anyway), subscribes to nothing and acknowledges nothing: a message the broker
 * queued for the agent's session is not consumed, and is delivered again when the agent connects.
 * A running agent with the same credentials is disconnected for a moment and reconnects.
 */
import { ok, problem, type CheckResult } from '../common/check.ts';
import { isTinyProtoError } from '../common/errors.ts';
import { connectionFailureLine } from './failures.ts';
import type { MqttConnectionSettings } from './options.ts';
import { MqttSession, type MqttConnectFn } from './session.ts';

/** Wraps a connect function so the client never acknowledges a message (MQTT.js calls handleMessage before PUBACK). */
export function withoutAcks(connect: MqttConnectFn): MqttConnectFn {
  return (url, options) => {
    const client = connect(url, options);
    (client as unknown as { handleMessage: (packet: unknown, done: () => void) => void }).handleMessage = () => undefined;
    return client;
  };
}

export async function brokerCheck(settings: MqttConnectionSettings, connect: MqttConnectFn): Promise<CheckResult> {
  const session = new MqttSession({ settings: { ...settings, will: undefined } as MqttConnectionSettings, subscriptions: [], connect: withoutAcks(connect), connectAttempts: 1 });
  const t0 = performance.now();
  try {
    await session.start();
    const ms = performance.now() - t0;
    const tls = settings.url.startsWith('mqtts:') || settings.url.startsWith('wss:') ? `TLS${settings.caFile !== null ? ` (CA ${settings.caFile})` : ''}` : 'no TLS';
    return ok('broker', `${settings.url}: connected as ${settings.username ?? '(anonymous)'} with MQTT ${session.protocolVersion === 5 ? '5' : '3.1.1'}, ${tls}, in ${ms.toFixed(0)} ms`);
  } catch (e) {
    if (isTinyProtoError(e) && e.code.startsWith('E_MQTT_')) return problem('broker', connectionFailureLine(e));
    throw e;
  } finally {
    await session.close();
  }
}
