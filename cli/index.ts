export { main } from './main.ts';
export { runSimulate, parseSimulateArgs, SIMULATE_HELP } from './simulate.ts';
export { textTable, markdownTable, pct, bytes } from './table.ts';
