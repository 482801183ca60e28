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
  private stream: CountableStream | undefined = undefined;
  private sentBefore = 0;
  private sent = 0;
  /**
   * bytesSent is read from the socket when it is read (a getter), not per packet sent: node's
   * `socket.bytesWritten` walks the socket's pending write queue, which under load made
   * sampling it per PUBLISH one of the session's largest costs.
   */
  readonly counters: WireCounters = ((self: SocketCounters): WireCounters => {
    const c = { bytesReceived: 0, publishesSent: 0, publishesReceived: 0, reconnects: 0 } as WireCounters;
    Object.defineProperty(c, 'bytesSent', {
      enumerable: true,
      get: () => {
        self.sample();
        return self.sent;
      },
    });
    return c;
  })(this);

  /** Counts a connection's socket (once per socket). */
  attach(stream: CountableStream | undefined): void {
    if (!stream || stream === this.stream) return;
    this.sample();
    this.sentBefore = this.sent;
    this.stream = stream;
    stream.on('data', (chunk: Buffer) => {
      this.counters.bytesReceived += chunk.length;
    });
  }

  /** Brings bytesSent up to date from the current socket. */
  sample(): void {
    const written = this.stream?.bytesWritten;
    if (written !== undefined) this.sent = this.sentBefore + written;
  }
}
