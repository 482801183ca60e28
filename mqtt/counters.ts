/** What crosses an MQTT session's socket(s): bytes both ways (MQTT framing included), PUBLISH packets, reconnects. */

export interface WireCounters {
  /** Bytes written to and read from the broker connection(s), including MQTT framing. */
  bytesSent: number;
  bytesReceived: number;
  /** PUBLISH packets sent and received. */
  publishesSent: number;
  publishesReceived: number;
  reconnects: number;
}

interface CountableStream {
  on(event: 'data', cb: (chunk: Buffer) => void): unknown;
  bytesWritten?: number;
}

/** Byte counters from the socket: every byte of every MQTT packet, both ways, over all connections. */
export class SocketCounters {
  readonly counters: WireCounters = { bytesSent: 0, bytesReceived: 0, publishesSent: 0, publishesReceived: 0, reconnects: 0 };
  private stream: CountableStream | undefined = undefined;
  private sentBefore = 0;

  /** Counts a connection's socket (once per socket). */
  attach(stream: CountableStream | undefined): void {
    if (!stream || stream === this.stream) return;
    this.sample();
    this.sentBefore = this.counters.bytesSent;
    this.stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.counters.bytesReceived += chunk.length;
    });
  }

  /** Brings bytesSent up to date from the current socket. */
  sample(): void {
    const written = this.stream?.bytesWritten;
    if (written !== undefined) this.counters.bytesSent = this.sentBefore + written;
  }
}
