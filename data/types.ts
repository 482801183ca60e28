/**
 * An image classification data set held as raw bytes (NHWC, uint8) to keep memory low;
 * batches are normalised to float32 on demand (see `toFloatBatch`).
 */
export interface ImageDataset {
  readonly name: string;
  readonly count: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  readonly numClasses: number;
  /** count * height * width * channels bytes, NHWC order. */
  readonly pixels: Uint8Array;
  /** count labels in [0, numClasses). */
  readonly labels: Int32Array;
  /** Per-channel mean and std of pixel/255, used for normalisation. */
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly classNames?: readonly string[];
}

/** One client's shard: indices into a pooled ImageDataset. */
export interface ClientShard {
  readonly client: number;
  readonly train: Int32Array;
  readonly test: Int32Array;
}
