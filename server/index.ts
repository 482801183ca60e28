export * from './aggregate.ts';
export * from './global.ts';
export * from './store.ts';
