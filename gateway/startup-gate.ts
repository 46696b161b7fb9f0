/**
 * Readiness at start: a new gateway replica waits (up to a grace period) for its NATS connection
 * before /readyz answers 200, so the Service sends it no call it could only refuse (an Event call
 * answered 503 "connecting to NATS") or decide alone (a reserved-concurrency admission by its
 * per-replica share instead of the shared counter). Once attached — or once the grace period has
 * passed without NATS, since sync calls do not need it — the gate stays open: a later NATS outage
 * never takes a replica out of the Service.
 */
export interface StartupGateOptions {
  /** True once the async pipeline (and with it the shared concurrency counter) runs. */
  attached: () => boolean;
  graceMs: number;
  now?: () => number;
  /** Called once when the grace period ends without NATS. */
  onGraceExpired?: () => void;
}

export function startupGate(o: StartupGateOptions): () => boolean {
  const now = o.now ?? Date.now;
  const startedAt = now();
  let open = false;
  return () => {
    if (open) return true;
    if (o.attached()) return (open = true);
    if (now() - startedAt >= o.graceMs) {
      open = true;
      o.onGraceExpired?.();
      return true;
    }
    return false;
  };
}
