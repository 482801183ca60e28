/**
 * Helpers of the relay tests: lightweight agents (a real MQTT connection each, the real codec
 * and topics, no training) that upload a fixed UPLOAD per round and resend it until its RECEIPT,
 * and uploads with dyadic values (k / 256), which float64 sums exactly in any order, so one
 * aggregator and relays must give bit-identical global prototypes.
 */
import mqtt from 'mqtt';
import { aggregatorTopic, agentTopic, receiptTopic } from '../../wire/topics.ts';
import { decodeReceipt, encodeUpload, peekHeader } from '../../wire/codec.ts';
import type { FrameSigner } from '../../wire/signature.ts';
import { Rng } from '../../common/rng.ts';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

export interface UploadSpec {
  experiment: string;
  K: number;
  d: number;
  s: number;
}

/** The agent's upload for a round: a fixed subset of classes, values k/256 with |k| < 4096. */
export function dyadicUpload(spec: UploadSpec, agent: string, round: number, signer: FrameSigner | null): Uint8Array {
  const rng = new Rng([...`${agent}/${round}`].reduce((h, ch) => (h * 31 + ch.charCodeAt(0)) >>> 0, 7));
  const prototypes = [];
  for (let j = 0; j < spec.K; j++) {
    if (rng.int(3) === 0) continue;
    const v = new Float32Array(spec.s);
    for (let t = 0; t < spec.s; t++) v[t] = (rng.int(8191) - 4095) / 256;
    prototypes.push({ classId: j, values: v });
  }
  if (prototypes.length === 0) prototypes.push({ classId: 0, values: new Float32Array(spec.s).fill(0.5) });
  return encodeUpload({ experiment: spec.experiment, sender: agent, round }, { K: spec.K, d: spec.d, s: spec.s, layout: 'sparse', valueType: 'float32', prototypes }, signer ? { signer, embedKey: true } : undefined);
}

/** One agent on a broker: on each new ROUND it uploads, resending every `resendMs` until its RECEIPT. */
export class SiteAgent {
  readonly receipts = new Map<number, string>();
  readonly globals = new Set<number>();
  readonly roundSigners: string[] = [];
  private client: mqtt.MqttClient | null = null;
  private seen = new Set<number>();

  constructor(
    readonly id: string,
    private readonly spec: UploadSpec,
    private readonly url: string,
    private readonly signer: FrameSigner | null = null,
    private readonly resendMs = 300,
  ) {}

  async start(): Promise<void> {
    const e = this.spec.experiment;
    const client = mqtt.connect(this.url, { clientId: `${e}:${this.id}`, clean: false, protocolVersion: 4, reconnectPeriod: 200 });
    this.client = client;
    client.on('message', (topic, payload) => {
      if (payload.length === 0) return;
      const bytes = new Uint8Array(payload);
      if (topic === aggregatorTopic(e, 'round')) this.onRound(bytes);
      else if (topic === aggregatorTopic(e, 'global')) this.globals.add(peekHeader(bytes).round);
      else if (topic === receiptTopic(e, this.id)) {
        const r = decodeReceipt(bytes);
        if (!this.receipts.has(r.header.round)) this.receipts.set(r.header.round, r.body.outcome);
      }
    });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    await client.subscribeAsync([aggregatorTopic(e, 'round'), aggregatorTopic(e, 'global'), receiptTopic(e, this.id)], { qos: 1 });
  }

  private onRound(bytes: Uint8Array): void {
    const h = peekHeader(bytes);
    if (h.signerKey) this.roundSigners.push(Buffer.from(h.signerKey).toString('hex'));
    if (this.seen.has(h.round)) return;
    this.seen.add(h.round);
    const upload = Buffer.from(dyadicUpload(this.spec, this.id, h.round, this.signer));
    let sends = 0;
    const send = (): void => {
      if (this.receipts.has(h.round) || !this.client || sends++ > 200) return;
      void this.client.publishAsync(agentTopic(this.spec.experiment, 'upload', this.id), upload, { qos: 1 }).catch(() => undefined);
      setTimeout(send, this.resendMs).unref();
    };
    send();
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = null;
    await c?.endAsync(true);
  }
}
