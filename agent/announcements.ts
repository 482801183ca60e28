/**
 * Which rounds the aggregator has moved past, as this agent has heard it: the aggregator opens
 * round r+1 only after closing round r, and a GLOBAL of round r is sent when r closes. So an
 * announcement of round r is superseded once a ROUND of a later round or a GLOBAL of round r or
 * later has arrived. A rejoining agent's broker session delivers the announcements it missed in
 * one burst; each frame is noted on arrival (before the serial queue handles it), so the agent
 * skips a round it could only upload too late (refused as stale) instead of training it.
 * Frames reach this note after the transport's authenticity check; a frame that is not a valid
 * ROUND or GLOBAL frame of this experiment is not noted (the queue reports it when it handles it).
 */
import { peekHeader } from '../wire/codec.ts';
import { MessageType } from '../wire/codec-types.ts';
import type { AgentInbound } from './agent-types.ts';

export class Announcements {
  /** The newest round a ROUND announced; 0 before any. */
  private newestRound = 0;
  /** The newest round a GLOBAL closed; 0 before any. */
  private newestClosed = 0;

  constructor(private readonly experiment: string) {}

  /**
   * Notes an inbound frame on arrival from its header alone (the frame, its CRC and the
   * experiment are checked; the body is decoded once, by the queue). Never throws.
   */
  heard(kind: AgentInbound, bytes: Uint8Array): void {
    if (kind !== 'round' && kind !== 'global') return;
    try {
      const h = peekHeader(bytes, { experiment: this.experiment });
      if (kind === 'round' && h.type === MessageType.Round) this.newestRound = Math.max(this.newestRound, h.round);
      else if (kind === 'global' && h.type === MessageType.Global) this.newestClosed = Math.max(this.newestClosed, h.round);
    } catch {
      // not noted: the serial queue decodes it again and reports why it is refused
    }
  }

  /** The later round (ROUND) or the closed round (GLOBAL) that supersedes `round`; null while it may still be open. */
  supersededBy(round: number): { readonly by: 'round' | 'global'; readonly round: number } | null {
    if (this.newestRound > round) return { by: 'round', round: this.newestRound };
    if (this.newestClosed >= round) return { by: 'global', round: this.newestClosed };
    return null;
  }
}
