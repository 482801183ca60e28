/**
 * Model-zoo facts that light modules need without importing TensorFlow.js.
 */
import type { Family } from './engine.ts';
import { TinyProtoError } from '../common/errors.ts';

/** Families implemented by the engines (models/arch/zoo.ts), in the paper's assignment order (client id mod n). */
export const FAMILIES: readonly Family[] = Object.freeze(['resnet8', 'mobilenetv2', 'shufflenetv2', 'efficientnet-lite'] as const);

export function isFamily(s: string): s is Family {
  return (FAMILIES as readonly string[]).includes(s);
}

/** The paper's heterogeneous assignment: families[clientId mod n]. */
export function familyForClient(clientId: number, families: readonly Family[] = FAMILIES): Family {
  if (families.length === 0) throw new TinyProtoError('E_CONFIG', 'familyForClient: empty family list');
  if (!Number.isInteger(clientId) || clientId < 0) {
    throw new TinyProtoError('E_CONFIG', `familyForClient: client id must be a non-negative integer, got ${clientId}`);
  }
  return families[clientId % families.length]!;
}
