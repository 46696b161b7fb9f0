/**
 * The in-flight report: each gateway replica serves `GET /internal/v1/inflight` on its main port
 * (platform principals only), the poller's autoscaler polls every replica and sums the counts:
 *
 *   {"functions":[{"namespace":"shop","function":"resize","version":"$LATEST","inflight":3}]}
 *
 * `version` is `$LATEST` or a version number (an alias is reported as the version it picked);
 * `inflight` counts the calls running on a pod or held waiting for one on that replica.
 */
import { LATEST } from './naming.js';

export const INFLIGHT_PATH = '/internal/v1/inflight';

/** One function version's calls in flight through one gateway replica. */
export interface InflightEntry {
  namespace: string;
  function: string;
  /** `$LATEST` or a version number. */
  version: string;
  inflight: number;
}

export interface InflightReport {
  functions: InflightEntry[];
}

/** The report's body from a replica's entries. */
export function inflightReport(functions: InflightEntry[]): InflightReport {
  return { functions };
}

/**
 * Reads a report leniently (a newer gateway may add fields): entries without a namespace or
 * function are skipped, a missing version is `$LATEST`, a negative or non-numeric count is 0.
 * Throws when the body is not a report at all.
 */
export function parseInflightReport(body: unknown): InflightEntry[] {
  const list = (body as { functions?: unknown } | null)?.functions;
  if (!Array.isArray(list)) throw new Error('expected {"functions": [...]}');
  return list.flatMap((e: unknown) => {
    const x = e as Partial<InflightEntry> | null;
    if (!x || typeof x.namespace !== 'string' || typeof x.function !== 'string') return [];
    const n = Number(x.inflight);
    return [
      {
        namespace: x.namespace,
        function: x.function,
        version: String(x.version ?? LATEST),
        inflight: Number.isFinite(n) && n > 0 ? n : 0,
      },
    ];
  });
}
