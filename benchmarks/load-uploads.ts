/**
 * Synthetic uploads for the load benchmark: valid TinyProto frames with random values and a
 * realistic number of classes per agent (Dirichlet alpha = 0.1 over 10 classes leaves most
 * agents with 1-4 classes), signed with the agent's own Ed25519 key (embedded for pinning).
 */
import { encodeUpload, encodeStatus } from '../wire/codec.ts';
import { signFrame } from '../wire/sign-frame.ts';
import type { FrameSigner } from '../wire/signature.ts';
import { Rng } from '../common/rng.ts';
import type { AgentState } from '../wire/codec-types.ts';

export interface UploadShape {
  experiment: string;
  K: number;
  d: number;
  s: number;
}

export function syntheticUpload(shape: UploadShape, agent: string, round: number, rng: Rng, signer: FrameSigner | null): Uint8Array {
  const classes = 1 + rng.int(4);
  const ids = new Set<number>();
  while (ids.size < Math.min(classes, shape.K)) ids.add(rng.int(shape.K));
  const prototypes = [...ids].map((classId) => {
    const values = new Float32Array(shape.s);
    for (let t = 0; t < values.length; t++) values[t] = (rng.next() * 2 - 1) * 20;
    return { classId, values };
  });
  const frame = encodeUpload({ experiment: shape.experiment, sender: agent, round }, { K: shape.K, d: shape.d, s: shape.s, layout: 'sparse', valueType: 'float32', prototypes });
  return signer ? signFrame(frame, signer, { embedKey: true }) : frame;
}

export function syntheticStatus(experiment: string, agent: string, round: number, state: AgentState, signer: FrameSigner | null): Uint8Array {
  const frame = encodeStatus({ experiment, sender: agent, round }, { state, timeMs: Date.now(), lastRound: Math.max(0, round - 1), modelFamily: 'resnet8', note: '' });
  return signer ? signFrame(frame, signer, { embedKey: true }) : frame;
}
