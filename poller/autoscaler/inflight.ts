import type { Logger } from '../../lib/log.js';
import { INFLIGHT_PATH, parseInflightReport, type InflightEntry } from '../../api/inflight.js';
import { workloadKey } from './autoscaler.js';

/**
 * In-flight calls reported by the gateways: the report format is api/inflight.ts (`GET
 * /internal/v1/inflight` on each gateway pod's main port). The poller finds the pods through the
 * EndpointSlices of Service `sluice-gateway` and polls them every second.
 */
/** Base URLs of the ready gateway pods. */
export interface GatewayEndpoints {
  urls(): string[];
}

export interface GatewayInflightOptions {
  endpoints: GatewayEndpoints;
  log: Logger;
  intervalMs?: number;
  /** A report older than this is dropped (a gateway that stopped answering has nothing in flight we can see). */
  staleMs?: number;
  token?: () => Promise<string | undefined>;
  now?: () => number;
}

/** Polls every gateway and sums what they report, per function version. */
export class GatewayInflight {
  private readonly reports = new Map<string, { at: number; entries: InflightEntry[] }>();
  private timer: NodeJS.Timeout | undefined;
  private warned = new Set<string>();
  private readonly now: () => number;

  constructor(private readonly o: GatewayInflightOptions) {
    this.now = o.now ?? Date.now;
  }

  start(): void {
    const loop = (): void => {
      void this.poll().finally(() => {
        this.timer = setTimeout(loop, this.o.intervalMs ?? 1000);
      });
    };
    loop();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  async poll(): Promise<void> {
    const token = await this.o.token?.();
    await Promise.all(
      this.o.endpoints.urls().map(async (base) => {
        try {
          const res = await fetch(`${base}${INFLIGHT_PATH}`, {
            headers: token ? { authorization: `Bearer ${token}` } : {},
            signal: AbortSignal.timeout(800),
          });
          if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
          this.reports.set(base, { at: this.now(), entries: parseInflightReport(await res.json()) });
          this.warned.delete(base);
        } catch (err) {
          if (!this.warned.has(base))
            this.o.log.warn({ err, gateway: base }, 'reading in-flight calls failed');
          this.warned.add(base);
        }
      }),
    );
  }

  /** In-flight calls per workload key, summed over the gateways with a fresh report. */
  inflight(): Map<string, number> {
    const out = new Map<string, number>();
    const now = this.now();
    for (const [base, r] of this.reports) {
      if (now - r.at > (this.o.staleMs ?? 5000)) {
        this.reports.delete(base);
        continue;
      }
      for (const e of r.entries) {
        const k = workloadKey(e.namespace, e.function, e.version);
        out.set(k, (out.get(k) ?? 0) + e.inflight);
      }
    }
    return out;
  }
}
