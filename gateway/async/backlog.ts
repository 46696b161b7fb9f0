import type { JetStreamManager } from '@nats-io/jetstream';
import { AsyncBacklogFullError } from './errors.js';
import type { AsyncMetrics } from './metrics.js';
import type { Subjects } from '../../api/nats-naming.js';

/**
 * The per-function backlog limit of the async queue. nats-server 2.12 refuses `discard: new`
 * (and so `discard_new_per_subject`) on a stream with message schedules, which SLUICE_ASYNC needs
 * for its retries; the limit is therefore kept here, at accept: the function's stored events are
 * counted (STREAM.INFO with a subject filter, answered from the stream's per-subject state) at
 * most every `refreshMs` per function and replica, plus what this replica accepted since. It is a
 * bound, not an exact count: other replicas' accepts within one refresh may go past it.
 */
export interface BacklogCounter {
  count(namespace: string, fn: string): Promise<number>;
}

export interface BacklogLimit {
  /** Most events one function may have waiting (0: no limit). */
  maxEvents: number;
  /** How long a count is trusted before it is read again. */
  refreshMs: number;
}

export const DEFAULT_BACKLOG_LIMIT: BacklogLimit = { maxEvents: 10_000, refreshMs: 1000 };

/** The decision, pure: refuse when the known count plus the accepts since reach the limit. */
export function backlogFull(known: number, acceptedSince: number, maxEvents: number): boolean {
  return maxEvents > 0 && known + acceptedSince >= maxEvents;
}

/** Counts a function's events on its async subject of the stream. */
export function streamBacklogCounter(
  jsm: JetStreamManager,
  stream: string,
  subjects: Subjects,
): BacklogCounter {
  return {
    async count(namespace, fn) {
      const subject = subjects.async(namespace, fn);
      const info = await jsm.streams.info(stream, { subjects_filter: subject });
      return info.state.subjects?.[subject] ?? 0;
    },
  };
}

interface Known {
  count: number;
  since: number;
  at: number;
  refreshing?: Promise<void>;
}

export class BacklogGuard {
  private readonly known = new Map<string, Known>();
  private readonly now: () => number;

  constructor(
    private readonly o: {
      counter: BacklogCounter;
      limit: BacklogLimit;
      metrics?: AsyncMetrics;
      now?: () => number;
    },
  ) {
    this.now = o.now ?? Date.now;
  }

  /** Throws AsyncBacklogFullError (429) when the function's backlog is at the limit. */
  async admit(namespace: string, fn: string): Promise<void> {
    const { maxEvents, refreshMs } = this.o.limit;
    if (maxEvents <= 0) return;
    const key = `${namespace}/${fn}`;
    let k = this.known.get(key);
    if (!k || this.now() - k.at >= refreshMs) {
      k ??= { count: 0, since: 0, at: 0 };
      this.known.set(key, k);
      const entry = k;
      // Concurrent accepts of one function share one read.
      entry.refreshing ??= (async () => {
        const sinceBefore = entry.since;
        try {
          entry.count = await this.o.counter.count(namespace, fn);
          entry.since -= sinceBefore;
          entry.at = this.now();
        } finally {
          entry.refreshing = undefined;
        }
      })();
      await entry.refreshing;
    }
    if (backlogFull(k.count, k.since, maxEvents)) {
      this.o.metrics?.refused.inc({ namespace, function: fn, reason: 'BacklogLimitExceeded' });
      throw new AsyncBacklogFullError(namespace, fn, maxEvents);
    }
  }

  /** One more event of the function was stored by this replica. */
  accepted(namespace: string, fn: string): void {
    const k = this.known.get(`${namespace}/${fn}`);
    if (k) k.since++;
  }
}
