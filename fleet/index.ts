export { runFleet, fleetExperimentConfig, fleetAgentIds, type FleetOptions, type FleetHooks, type FleetResult, type FleetRound } from './run.ts';
