import { describe, expect, it } from 'vitest';
import {
  PolicyNotEnforcedError,
  policyVerdict,
  waitForPolicy,
  type Connector,
  type ProbeResult,
} from './policy-wait.js';

describe('policyVerdict', () => {
  it.each<{ name: string; canary: ProbeResult; control?: ProbeResult; silentBefore?: boolean; want: string }>(
    [
      {
        name: 'the canary answers: not in force yet',
        canary: 'connected',
        control: 'connected',
        want: 'open',
      },
      {
        name: 'canary refused (REJECT), control answers',
        canary: 'refused',
        control: 'connected',
        want: 'enforced',
      },
      {
        name: 'canary refused but the control too: the gateway is down, nothing to conclude',
        canary: 'refused',
        control: 'refused',
        want: 'unknown',
      },
      {
        name: 'canary refused, control silent',
        canary: 'refused',
        control: 'timeout',
        want: 'unknown',
      },
      { name: 'canary silent (DROP) once', canary: 'timeout', control: 'connected', want: 'unknown' },
      {
        name: 'canary silent twice in a row, control answers',
        canary: 'timeout',
        control: 'connected',
        silentBefore: true,
        want: 'enforced',
      },
      { name: 'the canary’s name does not resolve', canary: 'error', want: 'unknown' },
      { name: 'no control configured: the refusal decides', canary: 'refused', want: 'enforced' },
    ],
  )('$name → $want', ({ canary, control, silentBefore, want }) => {
    expect(policyVerdict(canary, control, silentBefore ?? false)).toBe(want);
  });
});

/** A connector scripted per port: each probe takes the next result (the last one repeats). */
class ScriptedConnector implements Connector {
  readonly probes: string[] = [];
  resolves = 0;
  constructor(
    private readonly script: Record<number, ProbeResult[]>,
    private readonly ips: string[] = ['10.0.0.7'],
  ) {}
  resolve(): Promise<string[]> {
    this.resolves++;
    return this.ips.length ? Promise.resolve(this.ips) : Promise.reject(new Error('ENOTFOUND'));
  }
  probe(ip: string, port: number): Promise<ProbeResult> {
    this.probes.push(`${ip}:${port}`);
    const list = this.script[port] ?? ['error'];
    return Promise.resolve(list.length > 1 ? list.shift()! : list[0]!);
  }
}

function clock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let t = 0;
  const slept: number[] = [];
  return {
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
    slept,
  };
}

const opts = {
  canary: 'gw-pods:8070',
  controlPort: 8080,
  budgetMs: 1000,
  intervalMs: 50,
  probeTimeoutMs: 200,
};

describe('waitForPolicy', () => {
  it('keeps trying while the canary answers, and goes on once it is refused and the control answers', async () => {
    const c = clock();
    const conn = new ScriptedConnector({
      8070: ['connected', 'connected', 'connected', 'refused'],
      8080: ['connected'],
    });
    const opened: number[] = [];
    const r = await waitForPolicy(conn, { ...opts, ...c, onOpen: (a) => opened.push(a) });
    expect(r).toEqual({ waitedMs: 150, attempts: 4 });
    expect(opened).toEqual([1, 2, 3]);
    expect(c.slept).toEqual([50, 50, 50]);
    // The control is asked only once the canary stops answering, on the same pod; DNS once.
    expect(conn.probes).toEqual([
      '10.0.0.7:8070',
      '10.0.0.7:8070',
      '10.0.0.7:8070',
      '10.0.0.7:8070',
      '10.0.0.7:8080',
    ]);
    expect(conn.resolves).toBe(1);
  });

  it('probes the canary and the control on the same pod, whichever pod it picks', async () => {
    const conn = new ScriptedConnector({ 8070: ['connected', 'refused'], 8080: ['connected'] }, [
      '10.0.0.7',
      '10.0.0.8',
    ]);
    await waitForPolicy(conn, { ...opts, ...clock() });
    const [canary, control] = conn.probes.slice(-2).map((p) => p.split(':'));
    expect(control?.[1]).toBe('8080');
    expect(control?.[0]).toBe(canary?.[0]);
    // Rounds go round the pods.
    expect(new Set(conn.probes.map((p) => p.split(':')[0]))).toEqual(new Set(['10.0.0.7', '10.0.0.8']));
  });

  it('goes on at once when the policy is already in force', async () => {
    const r = await waitForPolicy(new ScriptedConnector({ 8070: ['refused'], 8080: ['connected'] }), {
      ...opts,
      ...clock(),
    });
    expect(r).toEqual({ waitedMs: 0, attempts: 1 });
  });

  it('with a CNI that drops: two silent rounds in a row', async () => {
    const r = await waitForPolicy(
      new ScriptedConnector({ 8070: ['connected', 'timeout', 'timeout'], 8080: ['connected'] }),
      { ...opts, ...clock() },
    );
    expect(r.attempts).toBe(3);
  });

  it('asks DNS again after a round that concluded nothing (the pod may be gone)', async () => {
    const conn = new ScriptedConnector({ 8070: ['refused', 'refused'], 8080: ['refused', 'connected'] });
    const r = await waitForPolicy(conn, { ...opts, ...clock() });
    expect(r.attempts).toBe(2);
    expect(conn.resolves).toBe(2);
  });

  it.each<{ name: string; canary: ProbeResult[]; control: ProbeResult[]; ips?: string[] }>([
    { name: 'the policy never comes into force', canary: ['connected'], control: ['connected'] },
    { name: 'the gateway pod refuses both (going away)', canary: ['refused'], control: ['refused'] },
    { name: 'the canary’s name does not resolve', canary: ['refused'], control: ['connected'], ips: [] },
  ])('fails past the budget when $name, rather than run unprotected', async ({ canary, control, ips }) => {
    const c = clock();
    const err = await waitForPolicy(new ScriptedConnector({ 8070: canary, 8080: control }, ips), {
      ...opts,
      ...c,
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PolicyNotEnforcedError);
    expect((err as Error).message).toContain('not in force after 1 s');
    expect((err as Error).message).toContain('canary gw-pods');
    expect(c.now()).toBeGreaterThanOrEqual(1000);
  });
});
