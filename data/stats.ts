/** Per-channel statistics of interleaved (NHWC) uint8 pixels, computed on pixel/255. */
export function channelStats(pixels: Uint8Array, channels: number): { mean: number[]; std: number[] } {
  // A 256-bin histogram per channel keeps this one cheap pass with exact integer sums.
  const hist = new Float64Array(channels * 256);
  const n = pixels.length;
  if (channels === 1) {
    for (let i = 0; i < n; i++) hist[pixels[i]!]!++;
  } else {
    for (let i = 0; i < n; i++) hist[(i % channels) * 256 + pixels[i]!]!++;
  }
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    let cnt = 0;
    let s = 0;
    let s2 = 0;
    for (let v = 0; v < 256; v++) {
      const h = hist[c * 256 + v]!;
      cnt += h;
      s += h * v;
      s2 += h * v * v;
    }
    if (cnt === 0) {
      mean.push(0);
      std.push(1);
      continue;
    }
    const m = s / cnt;
    const variance = Math.max(0, s2 / cnt - m * m);
    const sd = Math.sqrt(variance) / 255;
    mean.push(m / 255);
    // A constant channel would divide by zero when normalising; use 1 instead.
    std.push(sd > 0 ? sd : 1);
  }
  return { mean, std };
}
