import type { Environment } from './environment.js';

/**
 * The execution environments of a pod (concurrencyPerPod of them, 1 by default). An invocation
 * takes a free one or is refused: the gateway then picks another pod.
 */
export class EnvironmentPool {
  constructor(readonly environments: readonly Environment[]) {}

  /** A free environment, an initialised one first. */
  acquire(): Environment | undefined {
    const env = this.environments.find((e) => !e.busy && e.warm) ?? this.environments.find((e) => !e.busy);
    if (env) env.busy = true;
    return env;
  }

  release(env: Environment): void {
    env.busy = false;
  }

  /** Every environment has finished its first init (successfully or not). */
  get ready(): boolean {
    return this.environments.every((e) => e.ready);
  }

  get size(): number {
    return this.environments.length;
  }

  /** The first init of every environment; `waitedMs` (the NetworkPolicy wait) counts into each. */
  start(waitedMs = 0): Promise<void> {
    return Promise.all(this.environments.map((e) => e.start(waitedMs))).then(() => undefined);
  }

  async close(): Promise<void> {
    await Promise.all(this.environments.map((e) => e.close()));
  }
}
