export { runFleet, fleetExperimentConfig, fleetAgentIds, fleetPlans, type FleetOptions, type FleetHooks, type FleetResult, type FleetRound } from './run.ts';
export { participationLines, type RoundParticipation, type CrashOutcome } from './participation.ts';
export type { ChurnEvent, ChurnAction } from './churn.ts';
