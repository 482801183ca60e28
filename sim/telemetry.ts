/**
 * Telemetry for simulated clients, in the same record the agents send, so simulations and fleets
 * are reported alike. A simulated client is modelled as one board of the chosen profile that is
 * busy (one core) while it trains, computes prototypes and evaluates: its energy is the profile's
 * estimate for that busy time plus its message bytes (board/profiles.ts). Memory is what
 * the client's thread observed (RSS is process-wide: all clients share the simulation process).
 * Bytes are the encoded messages (no MQTT framing: no broker in a simulation).
 * With simulated links and boards (sim/timing.ts) the phases are the simulated ones: training
 * at the board's speed, the download (as waitGlobal) and the upload over the link, and the
 * round from the client's start to its upload's arrival, the board powered all along; the
 * prototype pass and evaluation keep their measured times.
 */
import os from 'node:os';
import { estimateEnergy, type BoardProfile } from '../board/profiles.ts';
import type { ClientEval, ClientUpload } from '../learner/types.ts';
import type { RoundTelemetry } from '../wire/telemetry.ts';

export function simulatedTelemetry(
  u: ClientUpload,
  e: ClientEval | null,
  ctx: {
    experiment: string;
    family: string;
    profile: BoardProfile;
    messageBytesUp: number;
    messageBytesDown: number;
    /** Simulated phases, s (method/round-timing.ts ClientRoundTimes); absent without simulated links and boards. */
    simulated?: { download: number; train: number; restart: number; upload: number };
  },
): RoundTelemetry {
  const evalSeconds = e?.evalSeconds ?? 0;
  const sim = ctx.simulated;
  const train = sim ? sim.train : u.trainSeconds;
  const busy = train + u.prototypeSeconds + evalSeconds;
  const round = sim ? busy + sim.download + sim.restart + sim.upload : busy;
  const usage = { wallSeconds: round, cpuUserSeconds: busy, cpuSystemSeconds: 0, bytesSent: ctx.messageBytesUp, bytesReceived: ctx.messageBytesDown };
  const energy = estimateEnergy(ctx.profile, usage);
  return {
    experiment: ctx.experiment,
    agent: `client-${u.client}`,
    round: u.round,
    family: ctx.family,
    board: ctx.profile.name,
    phases: { dataLoad: 0, train, prototypes: u.prototypeSeconds, encode: 0, upload: sim ? sim.restart + sim.upload : 0, waitGlobal: sim?.download ?? 0, evaluate: evalSeconds, round },
    memory: {
      peakRssBytes: u.memory.rssBytes,
      heapUsedBytes: u.memory.heapUsedBytes,
      engineBytes: u.memory.engineBytes,
      engineTensors: u.memory.engineTensors,
      wasmHeapBytes: u.memory.wasmHeapBytes,
      freeSystemBytes: os.freemem(),
    },
    cpu: { userSeconds: busy, systemSeconds: 0 },
    net: { bytesSent: ctx.messageBytesUp, bytesReceived: ctx.messageBytesDown },
    temperatureC: null,
    energy: { ...energy, detail: `${energy.detail}; simulated client: busy time as one core` },
    // a round without evaluation (simulate --eval-every) has no accuracy
    accuracy:
      e === null
        ? null
        : {
            head: e.testCount ? e.headCorrect / e.testCount : 0,
            prototype: e.prototypeCorrect === null || !e.testCount ? null : e.prototypeCorrect / e.testCount,
            testCount: e.testCount,
          },
    at: Date.now(),
  };
}
