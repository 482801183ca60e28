/**
 * Types and constants of the binary wire format (PROTOCOL.md). No byte offsets here: those
 * live only in codec-io.ts / codec-header.ts / codec-bodies.ts / codec-values.ts /
 * codec-telemetry.ts.
 */
import type { ClassMasks, MaskParams } from './masks.ts';
import type { EnergySource, RoundTelemetry } from './telemetry.ts';
import type { FrameSigner, FrameVerifier } from './signature.ts';

export const PROTOCOL_MAGIC = 0x5450; // "TP" read as a big-endian pair: bytes 0x54 0x50
export const PROTOCOL_VERSION = 1;

/** Default and recommended limit on one encoded message (the MQTT PUBLISH payload). */
export const DEFAULT_MAX_MESSAGE_BYTES = 262144;
/** Allowance for MQTT framing around a message: fixed header, topic, packet id, v5 properties. */
export const MQTT_PACKET_OVERHEAD_ALLOWANCE = 1024;
/** Maximum MQTT packet size brokers should accept so every valid message fits. */
export const MQTT_MAX_PACKET_BYTES = DEFAULT_MAX_MESSAGE_BYTES + MQTT_PACKET_OVERHEAD_ALLOWANCE;

export const MessageType = {
  Masks: 1,
  Round: 2,
  Upload: 3,
  Global: 4,
  Status: 5,
  Telemetry: 6,
  Receipt: 7,
  /** A relay's partial sums of one round. */
  Partial: 8,
  Experiment: 9,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: 'MASKS',
  2: 'ROUND',
  3: 'UPLOAD',
  4: 'GLOBAL',
  5: 'STATUS',
  6: 'TELEMETRY',
  7: 'RECEIPT',
  8: 'PARTIAL',
  9: 'EXPERIMENT',
});

/** Identifier rules shared by experiment id, sender id, round selections and model family. */
export const ID_MAX_LENGTH = 32;
export const ID_PATTERN = /^[A-Za-z0-9._-]{1,32}$/;
export const STATUS_NOTE_MAX_BYTES = 256;
/** TELEMETRY: the energy detail string is at most this many UTF-8 bytes. */
export const TELEMETRY_DETAIL_MAX_BYTES = 256;
/** Mode-0 MASKS decoding refuses generator parameters above these costs (hostile input guard). */
export const MAX_MASK_CELLS = 1 << 24; // K * d
export const MAX_MASK_GENERATOR_WORK = 2 ** 31; // K * K * candidates

export type ValueType = 'float32' | 'float16' | 'int8';
export const VALUE_TYPES: readonly ValueType[] = Object.freeze(['float32', 'float16', 'int8'] as const);
export type Layout = 'sparse' | 'dense';
export const LAYOUTS: readonly Layout[] = Object.freeze(['sparse', 'dense'] as const);
export type RoundMethod = 'tinyproto' | 'fedproto' | 'local';
export const ROUND_METHODS: readonly RoundMethod[] = Object.freeze(['tinyproto', 'fedproto', 'local'] as const);
export type AgentState = 'offline' | 'online' | 'training' | 'uploading' | 'idle';
export const AGENT_STATES: readonly AgentState[] = Object.freeze([
  'offline',
  'online',
  'training',
  'uploading',
  'idle',
] as const);

export const ENERGY_SOURCES: readonly EnergySource[] = Object.freeze([
  'rapl',
  'ina3221',
  'pmic',
  'hwmon',
  'estimate',
] as const);

/** EXPERIMENT (type 9, wire/codec-experiment.ts): a fleet's announcement of an experiment. */
export type ExperimentState = 'open' | 'ended';
export const EXPERIMENT_STATES: readonly ExperimentState[] = Object.freeze(['open', 'ended'] as const);
export type DataSourceKind = 'idx' | 'cifar' | 'image-folder';
export const DATA_SOURCE_KINDS: readonly DataSourceKind[] = Object.freeze(['idx', 'cifar', 'image-folder'] as const);
/** Most agents an explicit assignment list may name (larger fleets use the numbered rule). */
export const MAX_ASSIGNED_AGENTS = 4096;
export const MAX_EXPERIMENT_CLIENTS = 100_000;

export interface AssignedAgent {
  readonly agent: string;
  readonly client: number;
  /** Backbone family; null = the paper's assignment by client index. */
  readonly family: string | null;
}

export type Assignment =
  | { readonly mode: 'list'; readonly agents: readonly AssignedAgent[] }
  | { readonly mode: 'numbered'; readonly prefix: string };

export interface ExperimentBody {
  readonly state: ExperimentState;
  readonly method: RoundMethod;
  readonly fleet: string;
  readonly dataset: string;
  readonly source: DataSourceKind;
  readonly numClasses: number;
  readonly featureDim: number;
  readonly clients: number;
  readonly alpha: number;
  readonly seed: number;
  /** Cap on each shard's samples; null = all. */
  readonly samplesPerClient: number | null;
  readonly assignment: Assignment;
}

/** Header fields an encoder needs (type, version, flags, lengths and CRC are the codec's). */
export interface HeaderFields {
  experiment: string;
  sender: string;
  round: number;
}

/** A decoded, CRC-checked header. */
export interface MessageHeader extends HeaderFields {
  version: number;
  type: MessageType;
  flags: number;
  /** Bytes of the header, i.e. offset of the payload. */
  headerLength: number;
  payloadLength: number;
  /** Header + payload + signature (0 or 64 bytes) + 4 CRC bytes. */
  totalLength: number;
  crc: number;
  /** The frame's Ed25519 signature (flag bit 0), or null when unsigned. */
  signature: Uint8Array | null;
  /** The signer's raw public key the frame carries (flag bit 1), or null. Not trusted by itself. */
  signerKey: Uint8Array | null;
}

/** Checks a decoder performs on top of well-formedness; all optional. */
export interface DecodeExpect {
  experiment?: string;
  round?: number;
  /** Rounds below this are stale (E_ROUND). */
  minRound?: number;
  K?: number;
  d?: number;
  s?: number;
  type?: MessageType;
  /** Refuse buffers longer than this (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxBytes?: number;
  /** Require a signature that this verifier accepts (E_CODEC_SIGNATURE otherwise). */
  verifier?: FrameVerifier;
}

export interface EncodeOptions {
  /** Refuse to produce a message longer than this (default DEFAULT_MAX_MESSAGE_BYTES). */
  maxBytes?: number;
  /** Sign the frame (flag bit 0, 64-byte Ed25519 signature before the CRC). */
  signer?: FrameSigner;
  /** With a signer: also carry the signer's public key (flag bit 1, 32 bytes before the signature). */
  embedKey?: boolean;
}

/** MASKS: either the generator parameters (receivers regenerate) or explicit bitsets. */
export type MasksBody = { mode: 'params'; params: MaskParams } | { mode: 'bitsets'; masks: ClassMasks };
export type DecodedMasksBody =
  | { mode: 'params'; params: MaskParams; masks: ClassMasks }
  | { mode: 'bitsets'; masks: ClassMasks };

export interface RoundBody {
  method: RoundMethod;
  /** Value type agents must use for their uploads this round. */
  valueType: ValueType;
  /** Upload deadline, unix epoch milliseconds (float64). */
  deadlineMs: number;
  /** float32 on the wire; decoded to the shortest decimal that rounds to the same float32. */
  lambda: number;
  /** float32 on the wire; decoded like lambda. */
  lr: number;
  batchSize: number;
  localEpochs: number;
  /** Agent ids selected for this round; empty = every agent (unless rankThreshold is given). */
  selected: string[];
  /**
   * Selection by rank instead of a list (fleets too large to list): an agent takes part when its
   * selection rank for this experiment and round (method/selection.ts) is at most this integer
   * in [0, 2^53 - 1]. Absent = the list above decides. Requires an empty `selected`.
   */
  rankThreshold?: number;
}

/** ROUND's u16 selected count that announces a rank threshold instead of a list. */
export const ROUND_SELECT_BY_RANK = 0xffff;

export interface ClassValues {
  classId: number;
  values: Float32Array;
}

export interface UploadBody {
  K: number;
  d: number;
  /** Values per class: the mask's s (sparse) or d (dense). */
  s: number;
  layout: Layout;
  valueType: ValueType;
  /** Classes present, any order on input; decoded in increasing class order. */
  prototypes: ClassValues[];
  /**
   * The agent's total training-sample count n_i (one number, never per class), an integer in
   * 1..2^31, for the aggregator's mu (PROTOCOL.md §3.3). Absent or null: not reported (an
   * upload of an older agent); decoded only when the upload carries it.
   */
  trainSamples?: number | null;
}

/** UPLOAD byte 6, bit 7: the agent's training-sample count (u32) follows the value type byte. */
export const UPLOAD_FLAG_TRAIN_SAMPLES = 0x80;
/** Largest training-sample count an UPLOAD may report. */
export const MAX_TRAIN_SAMPLES = 2 ** 31;

export interface GlobalClassValues extends ClassValues {
  /** How many agents contributed to this global prototype (u16). */
  contributors: number;
}

export interface GlobalBody {
  K: number;
  d: number;
  s: number;
  layout: Layout;
  valueType: ValueType;
  prototypes: GlobalClassValues[];
}

export interface StatusBody {
  state: AgentState;
  /** Unix epoch milliseconds (float64). */
  timeMs: number;
  /** Last completed round (0 = none yet). */
  lastRound: number;
  /** Model family, 0..32 chars of [A-Za-z0-9._-] ('' = unknown). */
  modelFamily: string;
  /** Free text, at most 256 UTF-8 bytes. */
  note: string;
}

/**
 * TELEMETRY body: a RoundTelemetry without experiment / agent / round, which travel in the
 * header (experiment id, sender id, round). Seconds, accuracy and temperature are float32 on the
 * wire and decode to the shortest decimal that rounds to the same float32 (like ROUND's lambda).
 */
export type TelemetryBody = Omit<RoundTelemetry, 'experiment' | 'agent' | 'round'>;

/** What the aggregator did with an upload: committed now, already committed, or refused. */
export type ReceiptOutcome = 'accepted' | 'duplicate' | 'rejected';
export const RECEIPT_OUTCOMES: readonly ReceiptOutcome[] = Object.freeze(['accepted', 'duplicate', 'rejected'] as const);
export const RECEIPT_CODE_PATTERN = /^E_[A-Z0-9_]{1,30}$/;

/**
 * RECEIPT body: the aggregator's end-to-end acknowledgement of one upload (header round = the
 * upload's round). `uploadCrc` is the CRC-32 of the payload of the upload it answers (`uploadPayloadCrc`).
 */
export interface ReceiptBody {
  agent: string;
  outcome: ReceiptOutcome;
  uploadCrc: number;
  /** Error code of a rejection (e.g. E_ROUND); '' for accepted and duplicate. */
  code: string;
}

/** One class of a PARTIAL: its float64 running sum and how many of the summed uploads had it. */
export interface PartialClassSums {
  classId: number;
  /** Uploads that contributed to this class (1..agents.length). */
  contributors: number;
  /** s float64 sums (what RunningSums holds, never rounded to float32). */
  sums: Float64Array;
}

/**
 * PARTIAL body: a relay's running sums of one round (header round; sender = the relay's id) and
 * the agents whose uploads it summed, sorted (ids only, never class counts).
 */
export interface PartialBody {
  K: number;
  d: number;
  s: number;
  layout: Layout;
  /** Classes with at least one contributor, any order on input; decoded in increasing order. */
  classes: PartialClassSums[];
  /** The contributing agents; any order on input, decoded sorted (unique). */
  agents: string[];
  /**
   * The relay's agents' training-sample counts, summed (PROTOCOL.md §3.8): `agents` is how many
   * of its agents have reported theirs so far (1..2^32 - 1), `total` their sum (1..2^53 - 1).
   * Absent or null: not reported (a relay built before the field). Decoded only when present.
   */
  trainSamples?: PartialTrainSamples | null;
}

/** A PARTIAL's summed training-sample counts: one number (and how many agents it covers) per relay and round. */
export interface PartialTrainSamples {
  agents: number;
  total: number;
}

export interface Decoded<T extends MessageType, B> {
  type: T;
  header: MessageHeader;
  body: B;
}
export type DecodedMasks = Decoded<typeof MessageType.Masks, DecodedMasksBody>;
export type DecodedRound = Decoded<typeof MessageType.Round, RoundBody>;
export type DecodedUpload = Decoded<typeof MessageType.Upload, UploadBody>;
export type DecodedGlobal = Decoded<typeof MessageType.Global, GlobalBody>;
export type DecodedStatus = Decoded<typeof MessageType.Status, StatusBody>;
export type DecodedTelemetry = Decoded<typeof MessageType.Telemetry, TelemetryBody>;
export type DecodedReceipt = Decoded<typeof MessageType.Receipt, ReceiptBody>;
export type DecodedPartial = Decoded<typeof MessageType.Partial, PartialBody>;
export type DecodedExperiment = Decoded<typeof MessageType.Experiment, ExperimentBody>;
export type DecodedMessage = DecodedMasks | DecodedRound | DecodedUpload | DecodedGlobal | DecodedStatus | DecodedTelemetry | DecodedReceipt | DecodedPartial | DecodedExperiment;
