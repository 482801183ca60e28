/**
 * Board detection -> profile name.
 *
 * Order: the device-tree model string (/proc/device-tree/model, else
 * /sys/firmware/devicetree/base/model; NUL-terminated), then /etc/nv_tegra_release (L4T release:
 * R32 = JetPack 4 = Nano generation, R35/R36 = JetPack 5/6 = Orin generation), then the CPU
 * architecture (x64/ia32 -> x86-generic). Anything else falls back to x86-generic with
 * `exact: false` so the caller can warn and suggest `--board`.
 */
import { TinyProtoError } from '../common/errors.ts';
import { BOARD_NAMES, type BoardName, isBoardName } from './profiles.ts';
import { type SysOptions, resolveSys, readText } from './sysfs.ts';

export { BOARD_NAMES };

export const MODEL_PATHS: readonly string[] = Object.freeze(['/proc/device-tree/model', '/sys/firmware/devicetree/base/model']);
export const NV_TEGRA_RELEASE = '/etc/nv_tegra_release';

export interface BoardDetection {
  readonly board: BoardName;
  /** False when the board was not recognised and a fallback profile was chosen. */
  readonly exact: boolean;
  /** How it was decided, e.g. "device-tree model 'Raspberry Pi 5 Model B Rev 1.0'". */
  readonly reason: string;
}

/** Device-tree model string -> board, or null when not one we know. */
export function boardFromModel(model: string): { board: BoardName; exact: boolean } | null {
  const m = model.replace(/\0/g, '').trim();
  if (/Raspberry Pi 5\b/i.test(m) || /Raspberry Pi Compute Module 5\b/i.test(m) || /Raspberry Pi 500\b/i.test(m)) {
    return { board: 'rpi5', exact: /Raspberry Pi 5\b/i.test(m) };
  }
  if (/Raspberry Pi 4\b/i.test(m) || /Raspberry Pi Compute Module 4\b/i.test(m) || /Raspberry Pi 400\b/i.test(m)) {
    return { board: 'rpi4b', exact: /Raspberry Pi 4 Model B\b/i.test(m) };
  }
  if (/Raspberry Pi Zero 2\b/i.test(m)) return { board: 'rpizero2w', exact: true };
  if (/Raspberry Pi 3\b/i.test(m)) return { board: 'rpi3bplus', exact: /Raspberry Pi 3 Model B Plus\b/i.test(m) };
  if (/Jetson/i.test(m) && /Orin Nano/i.test(m)) return { board: 'jetson-orin-nano', exact: true };
  if (/Jetson/i.test(m) && /Orin/i.test(m)) return { board: 'jetson-orin-nano', exact: false };
  if (/Jetson Nano\b/i.test(m)) return { board: 'jetson-nano', exact: true };
  if (/Jetson/i.test(m)) return { board: 'jetson-nano', exact: false };
  return null;
}

/** '# R32 (release), REVISION: 7.1, ...' -> board (approximate: L4T major only). */
export function boardFromTegraRelease(text: string): BoardName | null {
  const m = /#\s*R(\d+)\s*\(release\)/i.exec(text);
  if (!m) return null;
  const major = Number(m[1]);
  if (major >= 34) return 'jetson-orin-nano';
  return 'jetson-nano';
}

export interface DetectOptions extends SysOptions {
  /** Defaults to process.arch. */
  readonly arch?: string;
}

export function detectBoard(opts: DetectOptions = {}): BoardDetection {
  const sys = resolveSys(opts);
  const arch = opts.arch ?? process.arch;
  let unknownModel: string | null = null;
  for (const p of MODEL_PATHS) {
    const model = readText(sys.fs, sys.at(p));
    if (model === null || model === '') continue;
    const hit = boardFromModel(model);
    if (hit) {
      return {
        board: hit.board,
        exact: hit.exact,
        reason: `device-tree model '${model}'${hit.exact ? '' : ` (closest profile: ${hit.board})`}`,
      };
    }
    unknownModel = model;
    break;
  }
  const tegra = readText(sys.fs, sys.at(NV_TEGRA_RELEASE));
  if (tegra !== null) {
    const board = boardFromTegraRelease(tegra);
    if (board) return { board, exact: false, reason: `${NV_TEGRA_RELEASE} '${tegra.split('\n')[0]}' (L4T generation only)` };
  }
  if (unknownModel === null && (arch === 'x64' || arch === 'ia32')) {
    return { board: 'x86-generic', exact: true, reason: `process.arch ${arch}` };
  }
  return {
    board: 'x86-generic',
    exact: false,
    reason: `unrecognised board (${unknownModel !== null ? `device-tree model '${unknownModel}', ` : ''}arch ${arch}); falling back to x86-generic — pass --board (${BOARD_NAMES.join(', ')})`,
  };
}

/** `--board NAME` or 'auto' -> a detection. Unknown names -> E_CONFIG listing the valid ones. */
export function resolveBoard(name: string, root: string = '/', opts: Omit<DetectOptions, 'root'> = {}): BoardDetection {
  const n = name.trim();
  if (n === 'auto') return detectBoard({ ...opts, root });
  if (isBoardName(n)) return { board: n, exact: true, reason: 'given' };
  throw new TinyProtoError('E_CONFIG', `unknown board '${name}'; valid boards: auto, ${BOARD_NAMES.join(', ')}`, {
    board: name,
    valid: ['auto', ...BOARD_NAMES],
  });
}
