import { test } from 'node:test';
import assert from 'node:assert/strict';
import { measureHostTrainSpeed } from './calibrate.ts';

test('this machine\'s one-core training speed is measured on the real engine', async (ctx) => {
  const s = await measureHostTrainSpeed(0.5);
  ctx.diagnostic(`ResNet-8 28x28x1 batch 32, ORT 1 thread: ${s.imagesPerSec.toFixed(0)} images/s (${s.images} images in ${s.seconds.toFixed(2)} s)`);
  assert.ok(s.images >= 128 && s.images % 128 === 0, `${s.images} images (whole epochs of 128)`);
  assert.ok(s.imagesPerSec > 20 && s.imagesPerSec < 20_000, `${s.imagesPerSec} images/s`);
});
