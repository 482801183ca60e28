/** Tiny fixtures for the report tests (no training, no I/O beyond what a test asks for). */
import type { RoundTelemetry } from '../../wire/telemetry.ts';

export function telemetryFor(experiment: string, agent: string, round: number, over: { joules?: number; rssMb?: number; head?: number; proto?: number | null; testCount?: number; source?: RoundTelemetry['energy']['source'] } = {}): RoundTelemetry {
  const train = 1 + round * 0.1;
  const dataLoad = round === 1 ? 0.4 : 0;
  return {
    experiment,
    agent,
    round,
    family: 'resnet8',
    board: 'rpi4b',
    phases: { dataLoad, train, prototypes: 0.2, encode: 0.01, upload: 0.05, waitGlobal: 0.6, evaluate: 0.3, round: dataLoad + train + 1.16 + 0.2 },
    memory: { peakRssBytes: (over.rssMb ?? 180 + round) * 1e6, heapUsedBytes: 40e6, engineBytes: 8e6, engineTensors: 30, wasmHeapBytes: 16e6, freeSystemBytes: 2e9 },
    cpu: { userSeconds: train * 2, systemSeconds: 0.05 },
    net: { bytesSent: 1500, bytesReceived: 2100 },
    temperatureC: 51.5,
    energy: { joules: over.joules ?? 4 + round, source: over.source ?? 'estimate', detail: 'rpi4b' },
    accuracy: { head: over.head ?? 0.4 + 0.05 * round, prototype: over.proto === undefined ? 0.35 + 0.05 * round : over.proto, testCount: over.testCount ?? 100 },
    at: 1_700_000_000_000 + round * 1000,
  };
}

/** A `tinyproto simulate --json` shaped result with `clients` clients and `rounds` rounds. */
export function tinySimulation(opts: { rounds?: number; clients?: number; method?: string; telemetry?: boolean } = {}): Record<string, unknown> {
  const R = opts.rounds ?? 3;
  const C = opts.clients ?? 2;
  return {
    config: { method: opts.method ?? 'tinyproto', clients: C, rounds: R },
    dataset: { name: 'fashion-mnist', dir: '/x', count: 100, shape: [28, 28, 1], numClasses: 10 },
    rounds: Array.from({ length: R }, (_, i) => {
      const round = i + 1;
      const clients = Array.from({ length: C }, (_, c) => ({
        client: c,
        family: 'resnet8',
        testCount: 50,
        accuracyHead: 0.3 + 0.1 * round + 0.01 * c,
        accuracyPrototype: round === 1 ? null : 0.25 + 0.1 * round,
        classesHeld: 4,
        bytesUp: 256,
        bytesDown: 640,
        messageBytesUp: 300,
        messageBytesDown: 700,
        loss: 1,
        protoLoss: 0.5,
        trainSeconds: 1,
        ...(opts.telemetry ? { telemetry: telemetryFor('sim', `client-${c}`, round) } : {}),
      }));
      return {
        round,
        accuracyHead: 0.3 + 0.1 * round,
        accuracyPrototype: round === 1 ? null : 0.25 + 0.1 * round,
        bytesUp: 256 * C,
        bytesDown: 640 * C,
        bytesUpPerClient: 256,
        bytesDownPerClient: 640,
        messageBytesUpPerClient: 300,
        messageBytesDownPerClient: 700,
        loss: 1,
        protoLoss: 0.5,
        seconds: 2.5,
        clients,
      };
    }),
    summary: {},
    seconds: 10,
  };
}

/** Every opened element is closed: counts `<tag ...>` minus `<tag .../>` against `</tag>`. */
export function unbalancedTags(xml: string): string[] {
  const body = xml.replace(/<!DOCTYPE[^>]*>/i, '');
  const opened = new Map<string, number>();
  for (const m of body.matchAll(/<([a-zA-Z][\w-]*)\b[^>]*?(\/?)>/g)) {
    if (m[2] === '/') continue;
    opened.set(m[1]!, (opened.get(m[1]!) ?? 0) + 1);
  }
  for (const m of body.matchAll(/<\/([a-zA-Z][\w-]*)\s*>/g)) opened.set(m[1]!, (opened.get(m[1]!) ?? 0) - 1);
  const voids = new Set(['meta', 'br', 'hr', 'img', 'link', 'input']);
  return [...opened].filter(([tag, n]) => n !== 0 && !voids.has(tag)).map(([tag, n]) => `${tag}:${n}`);
}

export const count = (s: string, re: RegExp): number => [...s.matchAll(new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g'))].length;
