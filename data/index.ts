export type { ClientShard, ImageDataset } from './types.ts';
export {
  DEFAULT_DATA_DIR,
  FASHION_MNIST_CLASSES,
  MNIST_CLASSES,
  loadIdxDataset,
  parseIdx,
  readIdxFile,
  type IdxArray,
  type IdxLoadOptions,
  type Split,
} from './idx.ts';
export { CIFAR10_CLASSES, loadCifar10, parseCifarBatch, type CifarBatch, type CifarLoadOptions } from './cifar.ts';
export { DATA_SOURCES, detectFormat, loadDataset, resolveFormat, type DataFormat, type DataSource, type LoadOptions } from './load.ts';
export { DEFAULT_IMAGE_SHAPE, formatImageShape, isImageFolder, listImageFolder, loadImageFolder, parseImageShape, type ImageFolderOptions, type ImageShape } from './image-folder.ts';
export { decodePng, type DecodedImage } from './png.ts';
export {
  capPerClient,
  classCounts,
  dirichletPartition,
  makeShards,
  SHARD_DEFAULTS,
  trainTestSplit,
  type DirichletOptions,
  type ShardOptions,
} from './partition.ts';
export { gatherLabels, gatherPixels, normalisationTable, toFloatBatch } from './batch.ts';
export { channelStats } from './stats.ts';
