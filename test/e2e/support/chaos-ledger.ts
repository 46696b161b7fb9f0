/**
 * The chaos test's accounting (test/e2e/chaos.test.ts), pure: what was accepted, what the handlers
 * recorded in the ledger (one entry per record of each execution), and what reached a final state
 * go in; lost, duplicated, out-of-order and late executions come out. No clocks, no clients.
 *
 * An execution is one run of a handler (its `x`, a random id the handler draws): the same `x`
 * seen twice is the handler's own retry of its ledger POST, not a second execution.
 */

/** One ledger entry: a record of one execution, stamped by the ledger (`t`, ms) in arrival order. */
export interface LedgerEntry {
  w: 'async' | 'queue' | 'stream';
  /** Execution id (one per handler run). */
  x: string;
  t: number;
  /** async and queue: the event's or record's id. */
  id?: number;
  /** async: approximateInvokeCount from the client context. */
  attempt?: number | null;
  /** queue: ApproximateReceiveCount. stream: the delivery count. */
  rc?: number;
  /** stream: the key (subject suffix), its per-key sequence and the stream sequence. */
  key?: string;
  seq?: number;
  sseq?: number;
}

/** Executions of one workload, one per (execution id, item), in ledger order. */
function executions(entries: LedgerEntry[], w: LedgerEntry['w'], item: (e: LedgerEntry) => string) {
  const seen = new Set<string>();
  const out: LedgerEntry[] = [];
  for (const e of entries) {
    if (e.w !== w) continue;
    const k = `${e.x}/${item(e)}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(e);
  }
  return out;
}

function group<T>(items: T[], key: (t: T) => number): Map<number, T[]> {
  const m = new Map<number, T[]>();
  for (const it of items) {
    const k = key(it);
    const list = m.get(k);
    if (list) list.push(it);
    else m.set(k, [it]);
  }
  return m;
}

/** A final state of an async event: a success or failure record, or a dead letter. */
export interface FinalState {
  id: number;
  kind: 'success' | 'failure' | 'deadLetter';
  /** When the record was written (ms). */
  at: number;
}

export interface AsyncAccount {
  accepted: number;
  succeeded: number;
  failed: number;
  deadLettered: number;
  /** Accepted ids with no final state. */
  lost: number[];
  /** Ids that ran more than once, and why: a later attempt number (a retry after an error) or the same one again (a redelivery). */
  duplicates: number;
  duplicatesByCause: { retry: number; redelivery: number };
  /** Ids with more than one final state (two records, or a record and a dead letter). */
  duplicateFinalStates: number[];
  /** Executions that started after their event had reached a final state. */
  executedAfterFinal: { id: number; at: number; final: number }[];
  /** Ids with a success record but no execution in the ledger (the ledger missed one). */
  succeededUnrecorded: number[];
  /** Ids never answered 202 that ran anyway (a 202 lost on the way back). */
  unacceptedExecuted: number[];
}

export function accountAsync(
  accepted: Set<number>,
  entries: LedgerEntry[],
  finals: FinalState[],
): AsyncAccount {
  const runs = group(
    executions(entries, 'async', (e) => String(e.id)),
    (e) => e.id ?? -1,
  );
  const fin = group(finals, (f) => f.id);
  const out: AsyncAccount = {
    accepted: accepted.size,
    succeeded: 0,
    failed: 0,
    deadLettered: 0,
    lost: [],
    duplicates: 0,
    duplicatesByCause: { retry: 0, redelivery: 0 },
    duplicateFinalStates: [],
    executedAfterFinal: [],
    succeededUnrecorded: [],
    unacceptedExecuted: [],
  };
  for (const id of accepted) {
    const f = fin.get(id) ?? [];
    const r = runs.get(id) ?? [];
    if (f.length === 0) out.lost.push(id);
    if (f.length > 1) out.duplicateFinalStates.push(id);
    if (f.some((x) => x.kind === 'success')) out.succeeded++;
    else if (f.some((x) => x.kind === 'failure')) out.failed++;
    else if (f.length > 0) out.deadLettered++;
    if (f.some((x) => x.kind === 'success') && r.length === 0) out.succeededUnrecorded.push(id);
    if (r.length > 1) {
      out.duplicates++;
      const attempts = r.map((e) => e.attempt ?? 0);
      if (new Set(attempts).size < attempts.length) out.duplicatesByCause.redelivery++;
      else out.duplicatesByCause.retry++;
    }
    if (f.length > 0) {
      const first = Math.min(...f.map((x) => x.at));
      for (const e of r) if (e.t > first) out.executedAfterFinal.push({ id, at: e.t, final: first });
    }
  }
  for (const id of runs.keys()) if (!accepted.has(id)) out.unacceptedExecuted.push(id);
  return out;
}

export interface QueueAccount {
  accepted: number;
  processed: number;
  /** Records sent to onFailure after their retries. */
  failed: number;
  lost: number[];
  /** Records run more than once: with a higher receive count (a redelivery) or the same (a retry in place). */
  duplicates: number;
  duplicatesByCause: { redelivery: number; sameDelivery: number };
  unacceptedExecuted: number[];
}

export function accountQueue(accepted: Set<number>, entries: LedgerEntry[], failed: number[]): QueueAccount {
  const runs = group(
    executions(entries, 'queue', (e) => String(e.id)),
    (e) => e.id ?? -1,
  );
  const failedSet = new Set(failed);
  const out: QueueAccount = {
    accepted: accepted.size,
    processed: 0,
    failed: 0,
    lost: [],
    duplicates: 0,
    duplicatesByCause: { redelivery: 0, sameDelivery: 0 },
    unacceptedExecuted: [],
  };
  for (const id of accepted) {
    const r = runs.get(id) ?? [];
    if (r.length > 0) out.processed++;
    if (failedSet.has(id)) out.failed++;
    if (r.length === 0 && !failedSet.has(id)) out.lost.push(id);
    if (r.length > 1) {
      out.duplicates++;
      const counts = r.map((e) => e.rc ?? 0);
      if (new Set(counts).size < counts.length) out.duplicatesByCause.sameDelivery++;
      else out.duplicatesByCause.redelivery++;
    }
  }
  for (const id of runs.keys()) if (!accepted.has(id)) out.unacceptedExecuted.push(id);
  return out;
}

/** A published stream record: its key, its per-key sequence and its stream sequence. */
export interface StreamRecord {
  key: string;
  seq: number;
  sseq: number;
}

export interface StreamAccount {
  accepted: number;
  keys: number;
  processed: number;
  /** Records inside an onFailure range (skipped after their retries). */
  failed: number;
  lost: StreamRecord[];
  /** Deliveries of a record already delivered (a batch replayed from its checkpoint). */
  redeliveries: number;
  /**
   * A record delivered before an earlier accepted record of its key had ever been delivered
   * (or failed): the order of the key was broken.
   */
  orderViolations: { key: string; seq: number; expected: number }[];
}

/**
 * Per key, the ledger's deliveries in arrival order: each new record must be the next accepted
 * one of its key (a replay of records already seen is a redelivery, not a violation). Records in
 * an onFailure range count as delivered when the range's first record would have been next.
 */
export function accountStream(
  accepted: StreamRecord[],
  entries: LedgerEntry[],
  failedRanges: { start: number; end: number }[],
): StreamAccount {
  const inFailed = (sseq: number): boolean => failedRanges.some((r) => sseq >= r.start && sseq <= r.end);
  const byKey = new Map<string, StreamRecord[]>();
  for (const r of accepted) byKey.set(r.key, [...(byKey.get(r.key) ?? []), r]);
  const position = new Map<string, Map<number, number>>();
  for (const [key, list] of byKey) {
    list.sort((a, b) => a.seq - b.seq);
    position.set(key, new Map(list.map((r, i) => [r.seq, i])));
  }
  const out: StreamAccount = {
    accepted: accepted.length,
    keys: byKey.size,
    processed: 0,
    failed: 0,
    lost: [],
    redeliveries: 0,
    orderViolations: [],
  };
  const next = new Map<string, number>();
  const skipFailed = (key: string): void => {
    const list = byKey.get(key) ?? [];
    let n = next.get(key) ?? 0;
    while (n < list.length && inFailed(list[n]!.sseq)) n++;
    next.set(key, n);
  };
  const delivered = new Map<string, Set<number>>();
  for (const e of executions(entries, 'stream', (x) => `${x.key}/${x.seq}`)) {
    const key = e.key ?? '';
    const pos = position.get(key)?.get(e.seq ?? -1);
    if (pos === undefined) continue; // not an accepted record (its publish never got an ack)
    const seen = delivered.get(key) ?? new Set<number>();
    delivered.set(key, seen);
    if (seen.has(pos)) {
      out.redeliveries++;
      continue;
    }
    seen.add(pos);
    skipFailed(key);
    const want = next.get(key) ?? 0;
    if (pos !== want) {
      const expected = byKey.get(key)?.[want]?.seq ?? -1;
      out.orderViolations.push({ key, seq: e.seq ?? -1, expected });
    }
    next.set(key, Math.max(want, pos + 1));
  }
  for (const [key, list] of byKey) {
    const seen = delivered.get(key) ?? new Set<number>();
    list.forEach((r, i) => {
      if (seen.has(i)) out.processed++;
      else if (inFailed(r.sseq)) out.failed++;
      else out.lost.push(r);
    });
  }
  return out;
}
