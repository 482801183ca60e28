/** The federated methods tinyproto runs; shared by the simulation, the agent and the aggregator. */
export type Method = 'tinyproto' | 'fedproto' | 'local' | 'fedavg';
export const METHODS: readonly Method[] = Object.freeze(['tinyproto', 'fedproto', 'local', 'fedavg']);
/** The methods a fleet runs (agents and aggregator exchange prototypes, or nothing). */
export type FleetMethod = Exclude<Method, 'fedavg'>;
export const FLEET_METHODS: readonly FleetMethod[] = Object.freeze(['tinyproto', 'fedproto', 'local']);
/**
 * FedAvg is a baseline of the simulation only: homogeneous models whose weights the server
 * averages (McMahan et al.); the wire format carries prototypes, not weights.
 */
export function isFleetMethod(m: Method): m is FleetMethod {
  return m !== 'fedavg';
}
