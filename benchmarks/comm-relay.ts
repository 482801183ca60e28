/**
 * `npm run bench:comm`, the byte counting: a TCP relay that counts what it forwards each way,
 * and the TLS version and cipher a broker negotiates.
 */
import { createConnection, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { readFileSync } from 'node:fs';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------ counting relay

export interface Relay {
  port: number;
  /** Bytes client -> broker and broker -> client, over every connection through this relay. */
  readonly count: { toBroker: number; fromBroker: number; connections: number };
  close(): Promise<void>;
}

/** A TCP relay to host:port that counts the bytes it forwards each way (TLS passes through opaque). */
export async function startRelay(host: string, port: number): Promise<Relay> {
  const count = { toBroker: 0, fromBroker: 0, connections: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    count.connections++;
    const upstream = createConnection({ host, port });
    for (const s of [client, upstream]) {
      s.setNoDelay(true);
      sockets.add(s);
      s.once('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.on('data', (c: Buffer) => {
      count.toBroker += c.length;
      upstream.write(c);
    });
    upstream.on('data', (c: Buffer) => {
      count.fromBroker += c.length;
      client.write(c);
    });
    client.once('close', () => upstream.destroy());
    upstream.once('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    count,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The TLS version and cipher the broker negotiates with a Node client (what MQTT.js gets). */
export function negotiatedTls(host: string, port: number, caFile: string, maxVersion: 'TLSv1.2' | undefined): Promise<{ protocol: string; cipher: string }> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host, port, ca: readFileSync(caFile), servername: 'localhost', ...(maxVersion ? { maxVersion } : {}) }, () => {
      const r = { protocol: s.getProtocol() ?? 'unknown', cipher: s.getCipher().name };
      s.destroy();
      resolve(r);
    });
    s.once('error', reject);
  });
}

/** Waits until the relay has been quiet for `ms`. */
export async function settle(relay: Relay, ms = 40): Promise<void> {
  let last = -1;
  for (let i = 0; i < 100; i++) {
    const now = relay.count.toBroker + relay.count.fromBroker;
    if (now === last) return;
    last = now;
    await sleep(ms);
  }
}
