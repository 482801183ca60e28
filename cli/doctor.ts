/**
 * `tinyproto doctor`: checks this board the way the agent will use it (same --config, environment
 * and flags as `tinyproto agent`), one OK / WARN / PROBLEM line each; exit 1 on any problem.
 */
import mqtt from 'mqtt';
import { checkLine, guarded, type CheckResult } from '../common/check.ts';
import { clockCheck, diskCheck, memoryCheck } from '../common/host-checks.ts';
import type { Logger } from '../common/logger.ts';
import { boardChecks } from '../board/doctor.ts';
import { ortCheck } from '../models/ort/doctor.ts';
import { sqliteCheck } from '../storage/doctor.ts';
import { brokerCheck } from '../mqtt/doctor.ts';
import { agentConnectionSettings } from '../agent/transport.ts';
import type { MqttConnectFn } from '../mqtt/session.ts';
import { join } from 'node:path';
import { type AgentConfig } from '../agent/config.ts';
import { loadAgentConfig } from '../agent/config-file.ts';
import { AGENT_FLAGS } from './agent.ts';
import { flagHelp, parseFlags, type FlagTable } from './flags.ts';
import { safeJson } from './log.ts';

const DOCTOR_FLAGS: FlagTable = {
  ...AGENT_FLAGS,
  board: { field: 'board', type: 'string', help: 'board profile: auto (detect) or a profile name (default auto)' },
};

export const DOCTOR_HELP = `Usage: tinyproto doctor [--config FILE] [options]

Checks this board: board and energy source, sensors, ONNX Runtime and its execution providers,
the SQLite store's folder (a durable commit), free memory and disk, the clock, and the broker
with these credentials and TLS settings. Takes the agent's settings (--config FILE, TINYPROTO_*
environment, flags), so it checks what the agent will use. Exit 0 when nothing is a problem.

The broker check connects once as the agent (its credentials; it acknowledges nothing, so no
queued message is lost); a running agent is disconnected for a moment and reconnects.

  --config FILE            the agent's config file (TOML, or JSON for .json; default none)
  --no-broker              skip the broker check (default: checked)
  --json                   the results as one JSON array on stdout (default: a table)
${flagHelp(DOCTOR_FLAGS)}
  -h, --help
`;

export interface DoctorDeps {
  readonly connect?: MqttConnectFn;
  readonly env?: NodeJS.ProcessEnv;
}

/** Every check for this configuration, in order; never throws (a failing check is a problem line). */
export async function doctorChecks(config: AgentConfig, opts: { broker: boolean }, deps: DoctorDeps = {}): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  // board, energy and sensors come from one energy-meter probe
  try {
    results.push(...(await boardChecks({ board: config.board })));
  } catch (e) {
    results.push(await guarded('board', () => Promise.reject(e)));
  }
  results.push(await guarded('onnxruntime', ortCheck));
  results.push(await guarded('sqlite', () => sqliteCheck(config.store)));
  results.push(await guarded('memory', () => memoryCheck()));
  results.push(await guarded('disk', () => diskCheck(config.store)));
  results.push(await guarded('clock', () => clockCheck()));
  if (opts.broker) {
    const connect = deps.connect ?? (mqtt.connect as unknown as MqttConnectFn);
    results.push(
      await guarded('broker', () =>
        brokerCheck(
          agentConnectionSettings(config, 5_000),
          connect,
        ),
      ),
    );
  }
  return results;
}

export async function runDoctor(argv: string[], out: (s: string) => void, _logger: Logger, deps: DoctorDeps = {}): Promise<number> {
  const { fields, extra } = parseFlags(argv, DOCTOR_FLAGS, {
    config: { type: 'string' },
    'no-broker': { type: 'boolean' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (extra['help']) {
    out(DOCTOR_HELP);
    return 0;
  }
  const loaded = loadAgentConfig({ file: typeof extra['config'] === 'string' ? extra['config'] : null, env: deps.env ?? process.env, flags: fields as Partial<AgentConfig> });
  // a long-lived agent keeps its stores in its state directory
  const config = loaded.mode === 'fleet' ? { ...loaded.config, store: join(loaded.config.stateDir, 'fleet.db') } : loaded.config;
  const results = await doctorChecks(config, { broker: extra['no-broker'] !== true }, deps);
  if (extra['json'] === true) out(safeJson(results));
  else for (const r of results) out(checkLine(r, 11));
  const problems = results.filter((r) => r.status === 'problem').length;
  if (extra['json'] !== true) out(problems === 0 ? 'doctor: no problems' : `doctor: ${problems} problem(s)`);
  return problems === 0 ? 0 : 1;
}
