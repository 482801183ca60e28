/** The federated methods tinyproto runs; shared by the simulation, the agent and the aggregator. */
export type Method = 'tinyproto' | 'fedproto' | 'local';
export const METHODS: readonly Method[] = Object.freeze(['tinyproto', 'fedproto', 'local']);
