/**
 * The aggregator's round rule lives in method/round-policy.ts (pure), so that the simulation
 * (sim/, with simulated link and board delays) closes its rounds by the very same rule.
 */
export { atDeadline, earlyClose, type DeadlineDecision, type RoundOutcome, type RoundProgress } from '../method/round-policy.ts';
