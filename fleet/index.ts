export { runFleet, type FleetOptions, type FleetHooks, type FleetResult, type FleetRound } from './run.ts';
