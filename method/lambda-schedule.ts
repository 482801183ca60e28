/**
 * The prototype term's strength over the rounds (an improvement option; the paper keeps lambda
 * fixed). With `final` = 1 (the default) lambda is the same in every round. With `final` < 1 it
 * falls on a half cosine from lambda in round 1 to final * lambda in round `rounds` (and stays
 * there after it): the pull aligns the features early, when it helps most, and gives the local
 * cross-entropy more room near the end, where under strong label skew learning alone fits a
 * client's own classes better (README, "A pull that fades").
 */
import { TinyProtoError } from '../common/errors.ts';

/** The factor on lambda in `round` (1-based) of `rounds`, falling from 1 to `final`. */
export function lambdaFactor(round: number, rounds: number, final: number): number {
  if (!Number.isInteger(round) || round < 1) throw new TinyProtoError('E_CONFIG', `lambda schedule: round is ${round}: it must be an integer >= 1`, { round });
  if (!Number.isInteger(rounds) || rounds < 1) throw new TinyProtoError('E_CONFIG', `lambda schedule: rounds is ${rounds}: it must be an integer >= 1`, { rounds });
  if (!(final >= 0 && final <= 1)) throw new TinyProtoError('E_CONFIG', `lambda schedule: final is ${final}: it must be in [0, 1]`, { final });
  if (final === 1 || rounds === 1) return 1;
  const t = Math.min(round - 1, rounds - 1) / (rounds - 1);
  return final + (1 - final) * 0.5 * (1 + Math.cos(Math.PI * t));
}
