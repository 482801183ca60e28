/**
 * Where the agent's settings come from, and in which order (one precedence, documented in README
 * "On real boards"): defaults < config file < TINYPROTO_* environment variables < flags.
 *
 * The config file is TOML (`/etc/tinyproto/agent.toml`, deploy/agent.toml), or JSON for a .json
 * file. Its keys are the command-line flags' names (`state-dir`, `ca`, `samples-per-client`, ...;
 * the field names of agent/config.ts are accepted too, as older JSON files use them), plus a
 * `[datasets]` table of data set name = directory. An unknown key is an E_CONFIG error naming
 * the file and the key; values are checked by resolveAgentConfig (agent/config.ts).
 */
import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import { TinyProtoError } from '../common/errors.ts';
import { AGENT_DEFAULTS, agentConfigFromEnv, coerceAgentField, parseDatasetList, resolveAgentConfig, type AgentConfig } from './config.ts';

/** Config file key (= flag name) -> field. */
export const AGENT_KEYS: Readonly<Record<string, keyof AgentConfig>> = Object.freeze({
  id: 'id',
  experiment: 'experiment',
  fleet: 'fleet',
  'state-dir': 'stateDir',
  broker: 'broker',
  username: 'username',
  password: 'password',
  ca: 'caFile',
  cert: 'certFile',
  key: 'keyFile',
  'mqtt-version': 'mqttVersion',
  family: 'family',
  data: 'dataDir',
  datasets: 'datasets',
  'data-source': 'dataSource',
  'image-shape': 'imageShape',
  'image-classes': 'imageClasses',
  client: 'client',
  clients: 'clients',
  alpha: 'alpha',
  seed: 'seed',
  'samples-per-client': 'samplesPerClient',
  'feature-dim': 'featureDim',
  'prototype-loss': 'prototypeLoss',
  'prototype-eval': 'prototypeEval',
  'prototype-contrast': 'prototypeContrast',
  'clip-norm': 'clipNorm',
  'prototype-scale': 'prototypeScale',
  store: 'store',
  engine: 'engine',
  threads: 'threads',
  'train-threads': 'trainThreads',
  provider: 'provider',
  backend: 'backend',
  'allow-cpu': 'allowCpu',
  board: 'board',
  'reconnect-min-ms': 'reconnectMinMs',
  'reconnect-max-ms': 'reconnectMaxMs',
  'resend-after-ms': 'resendAfterMs',
  'silence-warn-ms': 'silenceWarnMs',
  'catch-up-ms': 'catchUpMs',
  'aggregator-key': 'aggregatorKey',
} satisfies Record<string, keyof AgentConfig>);

const FIELDS = new Set(Object.keys(AGENT_DEFAULTS));

/** Fields from a config file (TOML, or JSON for .json); errors name the file (and line, for TOML syntax) and the key. */
export function agentConfigFromFile(path: string): Partial<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new TinyProtoError('E_CONFIG', `${path}: cannot read the config file (${(e as Error).message})`);
  }
  let doc: unknown;
  if (/\.json$/i.test(path)) {
    try {
      doc = JSON.parse(text) as unknown;
    } catch (e) {
      throw new TinyProtoError('E_CONFIG', `${path}: not a valid JSON config (${(e as Error).message})`);
    }
  } else {
    try {
      doc = parseToml(text);
    } catch (e) {
      if (e instanceof TomlError) throw new TinyProtoError('E_CONFIG', `${path}:${e.line}:${e.column}: not valid TOML (${e.message.split('\n')[0]})`, { line: e.line });
      throw e;
    }
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new TinyProtoError('E_CONFIG', `${path}: not a valid config (expected a table of settings)`);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(doc)) {
    const field = AGENT_KEYS[key] ?? (FIELDS.has(key) ? (key as keyof AgentConfig) : undefined);
    if (field === undefined) {
      throw new TinyProtoError('E_CONFIG', `${path}: unknown key "${key}"; known keys: ${Object.keys(AGENT_KEYS).join(', ')}`, { field: key });
    }
    if (field in out) throw new TinyProtoError('E_CONFIG', `${path}: "${key}" sets ${field} a second time`, { field: key });
    // "all" (the flag's word for no cap) and strings for numbers, as the environment gives them
    out[field] = typeof value === 'string' && field === 'samplesPerClient' ? coerceAgentField(field, value) : value;
  }
  return out as Partial<AgentConfig>;
}

export interface AgentSources {
  /** --config FILE, or null. */
  file: string | null;
  env: NodeJS.ProcessEnv;
  /** Fields given as flags. */
  flags: Partial<AgentConfig>;
}

/** The merged, unvalidated options: defaults < file < environment < flags. */
export function mergeAgentSources(s: AgentSources): Partial<AgentConfig> {
  const file = s.file === null ? {} : agentConfigFromFile(s.file);
  const datasets: unknown = s.flags.datasets;
  const flags = typeof datasets === 'string' ? { ...s.flags, datasets: parseDatasetList(datasets) } : s.flags;
  return { ...file, ...agentConfigFromEnv(s.env), ...flags };
}

/**
 * The agent's configuration from its sources, and its mode: 'fleet' (long-lived, agent/
 * supervisor.ts) when a fleet is set and no experiment is (in any source), else 'single' (one
 * experiment, configured in full, as before).
 */
export function loadAgentConfig(s: AgentSources): { config: AgentConfig; mode: 'single' | 'fleet' } {
  const merged = mergeAgentSources(s);
  const config = resolveAgentConfig(merged);
  return { config, mode: config.fleet !== null && merged.experiment === undefined ? 'fleet' : 'single' };
}
