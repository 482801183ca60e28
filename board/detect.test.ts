import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isTinyProtoError } from '../common/errors.ts';
import { BOARD_NAMES, boardFromModel, boardFromTegraRelease, detectBoard, resolveBoard } from './detect.ts';
import { fixture } from '../test/helpers/sysfs.ts';

describe('boardFromModel', () => {
  const cases: [string, string, boolean][] = [
    ['Raspberry Pi 4 Model B Rev 1.4', 'rpi4b', true],
    ['Raspberry Pi 5 Model B Rev 1.0', 'rpi5', true],
    ['Raspberry Pi 3 Model B Plus Rev 1.3', 'rpi3bplus', true],
    ['Raspberry Pi Zero 2 W Rev 1.0', 'rpizero2w', true],
    ['NVIDIA Jetson Nano Developer Kit', 'jetson-nano', true],
    ['NVIDIA Jetson Orin Nano Developer Kit', 'jetson-orin-nano', true],
    ['NVIDIA Jetson Orin Nano Engineering Reference Developer Kit Super', 'jetson-orin-nano', true],
    ['Raspberry Pi Compute Module 4 Rev 1.0', 'rpi4b', false],
    ['Raspberry Pi 3 Model B Rev 1.2', 'rpi3bplus', false],
    ['Raspberry Pi 5 Model B Rev 1.0\0', 'rpi5', true],
  ];
  for (const [model, board, exact] of cases) {
    test(`${JSON.stringify(model)} -> ${board}${exact ? '' : ' (approximate)'}`, () => {
      assert.deepEqual(boardFromModel(model), { board, exact });
    });
  }
  test('unknown model -> null', () => assert.equal(boardFromModel('Pine64 RockPro64 v2.1'), null));
});

describe('detectBoard with fixture roots', () => {
  const cases: [string, string][] = [
    ['rpi5', 'rpi5'],
    ['rpi4b', 'rpi4b'], // via /sys/firmware/devicetree/base/model
    ['rpi3bplus', 'rpi3bplus'],
    ['rpizero2w', 'rpizero2w'],
    ['jetson-nano-iio', 'jetson-nano'],
    ['jetson-orin-hwmon', 'jetson-orin-nano'],
  ];
  for (const [dir, board] of cases) {
    test(`${dir} -> ${board}`, () => {
      const d = detectBoard({ root: fixture(dir), arch: 'arm64' });
      assert.equal(d.board, board);
      assert.equal(d.exact, true);
      assert.match(d.reason, /device-tree model/);
    });
  }

  test('nv_tegra_release alone (R32 -> nano, R36 -> orin)', () => {
    assert.equal(boardFromTegraRelease('# R32 (release), REVISION: 7.1, GCID: 1'), 'jetson-nano');
    assert.equal(boardFromTegraRelease('# R36 (release), REVISION: 4.3, GCID: 1'), 'jetson-orin-nano');
    assert.equal(boardFromTegraRelease('nonsense'), null);
  });

  test('x86 with no device tree -> x86-generic (exact)', () => {
    assert.deepEqual(detectBoard({ root: fixture('empty'), arch: 'x64' }), {
      board: 'x86-generic',
      exact: true,
      reason: 'process.arch x64',
    });
  });

  test('unknown ARM board -> fallback, not exact, reason suggests --board', () => {
    const d = detectBoard({ root: fixture('unknown-arm'), arch: 'arm64' });
    assert.equal(d.board, 'x86-generic');
    assert.equal(d.exact, false);
    assert.match(d.reason, /RockPro64.*--board/);
  });
});

describe('resolveBoard', () => {
  test('explicit names pass through; auto detects', () => {
    for (const n of BOARD_NAMES) assert.equal(resolveBoard(n).board, n);
    assert.equal(resolveBoard('auto', fixture('rpi5')).board, 'rpi5');
  });
  test('unknown name -> E_CONFIG listing the valid ones', () => {
    assert.throws(
      () => resolveBoard('rpi6'),
      (e) => isTinyProtoError(e, 'E_CONFIG') && e.message.includes("unknown board 'rpi6'") && BOARD_NAMES.every((n) => e.message.includes(n)),
    );
  });
});
