/**
 * Embedded, zero-install MQTT broker (aedes 1.x on a node:net server) for development,
 * simulations and tests. MQTT 3.1.1 only, no auth, no TLS: bind it to loopback. For a fleet,
 * use mosquitto with broker-config/mosquitto.fleet.conf instead.
 *
 * Persistence is aedes' in-memory default, so retained messages and persistent sessions
 * (clean: false) work for as long as the process lives. A transport-level guard enforces a
 * maximum MQTT packet size (aedes has no such option): a client announcing a larger packet is
 * disconnected before any of it is buffered or parsed, like mosquitto's `max_packet_size`.
 */
import { Duplex } from 'node:stream';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Aedes } from 'aedes';
import { silentLogger, type Logger } from '../common/logger.ts';
import { MQTT_MAX_PACKET_BYTES } from '../wire/codec-types.ts';
import { TinyProtoError } from '../common/errors.ts';

/**
 * Default maximum MQTT packet size: the codec's 262144-byte message limit + 1024 bytes for the
 * fixed header, topic, packet id and MQTT 5 properties (MQTT_MAX_PACKET_BYTES, PROTOCOL.md).
 * Same value as `max_packet_size` in broker-config/.
 */
export const DEFAULT_MAX_PACKET_BYTES = MQTT_MAX_PACKET_BYTES;

export interface EmbeddedBrokerOptions {
  /** TCP port; 0 picks a free one. Default 1883. */
  port?: number;
  /** Bind address. Default '127.0.0.1'. */
  host?: string;
  logger?: Logger;
  /** Maximum size of a whole MQTT packet in bytes; 0 disables the guard. Default MQTT_MAX_PACKET_BYTES (263168). */
  maxPacketSize?: number;
}

export interface EmbeddedBrokerStats {
  /** Currently connected (CONNACKed) clients. */
  clients: number;
  /** PUBLISH packets received from clients (including wills) since start. */
  published: number;
}

export interface EmbeddedBroker {
  /** mqtt://host:port */
  url: string;
  host: string;
  port: number;
  /** Disconnect every client, stop listening and shut aedes down. Idempotent. */
  close(): Promise<void>;
  stats(): EmbeddedBrokerStats;
}

/**
 * Incremental scanner over the MQTT byte stream that checks each packet's fixed header
 * (type byte + 1..4 byte "remaining length" varint) against a limit, skipping bodies.
 */
export class MqttFrameSizeGuard {
  private state: 'type' | 'length' | 'body' = 'type';
  private remainingLength = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private toSkip = 0;

  constructor(private readonly maxPacketSize: number) {}

  /** Returns undefined when the chunk is fine, else a description of the violation. */
  feed(chunk: Uint8Array): string | undefined {
    let pos = 0;
    while (pos < chunk.length) {
      if (this.state === 'type') {
        pos++;
        this.state = 'length';
        this.remainingLength = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const b = chunk[pos++]!;
        this.remainingLength += (b & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if ((b & 0x80) !== 0) {
          if (this.lengthBytes >= 4) return 'malformed remaining length';
          continue;
        }
        const total = 1 + this.lengthBytes + this.remainingLength;
        if (total > this.maxPacketSize) return `packet of ${total} bytes exceeds the ${this.maxPacketSize}-byte limit`;
        this.toSkip = this.remainingLength;
        this.state = this.toSkip > 0 ? 'body' : 'type';
      } else {
        const n = Math.min(this.toSkip, chunk.length - pos);
        pos += n;
        this.toSkip -= n;
        if (this.toSkip === 0) this.state = 'type';
      }
    }
    return undefined;
  }
}

/**
 * A Duplex standing in for the socket towards aedes: bytes flow through the frame guard
 * first, so an oversized packet never reaches aedes' parser.
 */
class GuardedConnection extends Duplex {
  constructor(
    private readonly socket: Socket,
    guard: MqttFrameSizeGuard,
    onViolation: (reason: string) => void,
  ) {
    super({ allowHalfOpen: false });
    socket.on('data', (chunk: Buffer) => {
      const violation = guard.feed(chunk);
      if (violation !== undefined) {
        onViolation(violation);
        this.destroy();
        return;
      }
      if (!this.push(chunk)) socket.pause();
    });
    socket.once('end', () => this.push(null));
    socket.on('error', (err) => this.destroy(err));
    socket.once('close', () => this.destroy());
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, encoding: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.socket.write(chunk, encoding, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.socket.end(cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.socket.destroy();
    cb(err);
  }
}

/** Start aedes on host:port (loopback by default). Resolves once listening. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions = {}): Promise<EmbeddedBroker> {
  const host = opts.host ?? '127.0.0.1';
  const logger = opts.logger ?? silentLogger;
  const maxPacketSize = opts.maxPacketSize ?? DEFAULT_MAX_PACKET_BYTES;
  if (!Number.isInteger(maxPacketSize) || maxPacketSize < 0) throw new TinyProtoError('E_CONFIG', `invalid maxPacketSize ${maxPacketSize}`);

  const aedes = await Aedes.createBroker();
  let published = 0;
  aedes.on('publish', (_packet, client) => {
    if (client !== null) published++;
  });
  aedes.on('client', (client) => logger.debug('mqtt client connected', { clientId: client.id }));
  aedes.on('clientDisconnect', (client) => logger.debug('mqtt client disconnected', { clientId: client.id }));
  aedes.on('clientError', (client, err) => logger.debug('mqtt client error', { clientId: client.id, error: err.message }));
  aedes.on('connectionError', (_client, err) => logger.debug('mqtt connection error', { error: err.message }));

  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.setNoDelay(true);
    if (maxPacketSize === 0) {
      aedes.handle(socket);
      return;
    }
    const remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const conn = new GuardedConnection(socket, new MqttFrameSizeGuard(maxPacketSize), (reason) =>
      logger.warn('mqtt connection dropped', { remote, reason }),
    );
    aedes.handle(conn);
  });

  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port ?? 1883, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
    throw err;
  }
  server.on('error', (err) => logger.error('mqtt server error', { error: err.message }));

  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `mqtt://${urlHost}:${port}`;
  logger.info('embedded mqtt broker listening', { url, maxPacketSize });

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
      // Connections that never sent CONNECT are unknown to aedes.
      for (const s of sockets) s.destroy();
      await serverClosed;
      logger.info('embedded mqtt broker closed', { url });
    })();
    return closing;
  };

  return {
    url,
    host,
    port,
    close,
    stats: () => ({ clients: aedes.connectedClients, published }),
  };
}
