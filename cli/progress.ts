/** A one-line progress bar on a terminal (stderr); silent when the stream is not a TTY. */
export interface ProgressBar {
  update(label: string, done: number, total: number): void;
  clear(): void;
}

export function progressBar(stream: NodeJS.WriteStream = process.stderr, width = 30): ProgressBar {
  if (!stream.isTTY) return { update() {}, clear() {} };
  let shown = false;
  return {
    update(label, done, total) {
      const frac = total > 0 ? Math.min(1, done / total) : 0;
      const full = Math.round(frac * width);
      stream.write(`\r${label} [${'#'.repeat(full)}${'.'.repeat(width - full)}] ${done}/${total}\x1b[K`);
      shown = true;
    },
    clear() {
      if (shown) stream.write('\r\x1b[K');
      shown = false;
    },
  };
}
