import { createHash } from 'node:crypto';

/**
 * Rendezvous (highest-random-weight) hashing: every replica computes the same preferred owner
 * for a key from the same member list, and when a member leaves only its keys move.
 */
export function preferredOwner(members: readonly string[], key: string): string | undefined {
  let best: string | undefined;
  let bestScore = '';
  for (const m of members) {
    const score = createHash('sha256').update(`${m}\u0000${key}`).digest('hex');
    if (best === undefined || score > bestScore) {
      best = m;
      bestScore = score;
    }
  }
  return best;
}
