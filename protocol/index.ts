export * from './errors.ts';
export * from './logger.ts';
export * from './rng.ts';
export * from './masks.ts';
export * from './prototypes.ts';
export * from './comm.ts';
