import { describe, expect, it } from 'vitest';
import {
  EVENTS,
  isWarm,
  STATES,
  transition,
  type Effect,
  type EnvEvent,
  type EnvState,
  type MachineOptions,
} from './environment-machine.js';

// Every (state, event) pair, under every option that changes it: the table below is the
// specification of an execution environment's life, and the completeness test keeps it whole.

interface Row {
  state: EnvState;
  event: EnvEvent;
  /** The options this row holds for; absent: all of them. */
  when?: Partial<MachineOptions>;
  to: EnvState;
  effects: Effect[];
}

const VARIANTS: MachineOptions[] = [
  { provided: false, freezeIdle: false },
  { provided: false, freezeIdle: true },
  { provided: true, freezeIdle: false },
  { provided: true, freezeIdle: true },
];

const spawnEager: Effect = { type: 'spawn', eager: true };
const spawnLazy: Effect = { type: 'spawn', eager: false };
const spawnForInvocation: Effect = { type: 'spawn', eager: false, forInvocation: true };
const discardExited: Effect = { type: 'discard', exited: true };
const discard: Effect = { type: 'discard', exited: false };
const kill: Effect = { type: 'kill' };
const adopt: Effect = { type: 'adopt' };
const completeInit: Effect = { type: 'completeInit' };
const failError: Effect = { type: 'failInit', failure: 'error' };
const failExit: Effect = { type: 'failInit', failure: 'exit' };
const failTimeout: Effect = { type: 'failInit', failure: 'timeout' };
const hold: Effect = { type: 'hold' };
const dropPoll: Effect = { type: 'dropPoll' };
const freeze: Effect = { type: 'freeze' };
const stopInitTimer: Effect = { type: 'stopInitTimer' };
const waitForInit: Effect = { type: 'waitForInit' };
const dispatch: Effect = { type: 'dispatch' };
const stop: Effect = { type: 'stop' };
const answer = (w: Extract<Effect, { type: 'answer' }>['with']): Effect => ({ type: 'answer', with: w });
const E403: Effect = { type: 'reject', status: 403, errorType: 'InvalidStateTransition' };
const E400: Effect = { type: 'reject', status: 400, errorType: 'InvalidRequestID' };
const ILLEGAL: Effect = { type: 'illegal' };

const node = { provided: false };
const provided = { provided: true };
const providedFrozen = { provided: true, freezeIdle: true };
const providedThawed = { provided: true, freezeIdle: false };
const frozen = { freezeIdle: true };
const thawed = { freezeIdle: false };

/** Runtime API calls that carry no invocation of the moment: refused in every state but `running`. */
const stray = (state: EnvState): Row[] => [
  { state, event: 'response', to: state, effects: [E400] },
  { state, event: 'error', to: state, effects: [E400] },
];
const illegal = (state: EnvState, ...events: EnvEvent[]): Row[] =>
  events.map((event) => ({ state, event, to: state, effects: [ILLEGAL] }));
const unchanged = (state: EnvState, ...events: EnvEvent[]): Row[] =>
  events.map((event) => ({ state, event, to: state, effects: [] }));

const TABLE: Row[] = [
  // ---- empty: no process
  { state: 'empty', event: 'start', to: 'initializing', effects: [spawnEager] },
  { state: 'empty', event: 'invoke', to: 'awaitingInit', effects: [spawnLazy, waitForInit] },
  { state: 'empty', event: 'next', when: node, to: 'empty', effects: [E403] },
  {
    state: 'empty',
    event: 'next',
    when: providedThawed,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold],
  },
  {
    state: 'empty',
    event: 'next',
    when: providedFrozen,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold, freeze],
  },
  { state: 'empty', event: 'initError', when: node, to: 'empty', effects: [E403] },
  {
    state: 'empty',
    event: 'initError',
    when: provided,
    to: 'initFailed',
    effects: [spawnLazy, adopt, failError],
  },
  ...stray('empty'),
  ...illegal('empty', 'nextClosed', 'exit', 'initTimeout', 'deadline'),
  ...unchanged('empty', 'invocationDone'),
  { state: 'empty', event: 'close', to: 'closed', effects: [] },

  // ---- initializing: the init runs, nobody waits for it
  { state: 'initializing', event: 'invoke', to: 'awaitingInit', effects: [stopInitTimer, waitForInit] },
  { state: 'initializing', event: 'next', when: thawed, to: 'polling', effects: [adopt, completeInit, hold] },
  {
    state: 'initializing',
    event: 'next',
    when: frozen,
    to: 'polling',
    effects: [adopt, completeInit, hold, freeze],
  },
  { state: 'initializing', event: 'initError', to: 'initFailed', effects: [adopt, failError] },
  { state: 'initializing', event: 'exit', to: 'initFailed', effects: [failExit] },
  { state: 'initializing', event: 'initTimeout', to: 'initTimedOut', effects: [failTimeout, kill] },
  { state: 'initializing', event: 'close', to: 'closed', effects: [failExit, stop] },
  ...stray('initializing'),
  ...illegal('initializing', 'nextClosed', 'deadline'),
  ...unchanged('initializing', 'start', 'invocationDone'),

  // ---- initFailed: the next invocation reports the failure, then the environment resets
  { state: 'initFailed', event: 'invoke', to: 'resetting', effects: [answer('initFailure')] },
  { state: 'initFailed', event: 'next', to: 'initFailed', effects: [E403] },
  { state: 'initFailed', event: 'initError', to: 'initFailed', effects: [E403] },
  { state: 'initFailed', event: 'close', to: 'closed', effects: [stop] },
  ...stray('initFailed'),
  ...illegal('initFailed', 'nextClosed', 'initTimeout', 'deadline'),
  ...unchanged('initFailed', 'start', 'exit', 'invocationDone'),

  // ---- initTimedOut: the process was killed; an invocation starts a fresh one
  {
    state: 'initTimedOut',
    event: 'invoke',
    to: 'awaitingInit',
    effects: [kill, discard, spawnLazy, waitForInit],
  },
  { state: 'initTimedOut', event: 'next', when: node, to: 'initTimedOut', effects: [E403] },
  {
    state: 'initTimedOut',
    event: 'next',
    when: providedThawed,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold],
  },
  {
    state: 'initTimedOut',
    event: 'next',
    when: providedFrozen,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold, freeze],
  },
  { state: 'initTimedOut', event: 'initError', to: 'initTimedOut', effects: [E403] },
  { state: 'initTimedOut', event: 'close', to: 'closed', effects: [stop] },
  ...stray('initTimedOut'),
  ...illegal('initTimedOut', 'nextClosed', 'initTimeout', 'deadline'),
  ...unchanged('initTimedOut', 'start', 'exit', 'invocationDone'),

  // ---- idle: initialised, the runtime is not in invocation/next
  { state: 'idle', event: 'invoke', to: 'awaitingNext', effects: [waitForInit] },
  { state: 'idle', event: 'next', when: thawed, to: 'polling', effects: [adopt, hold] },
  { state: 'idle', event: 'next', when: frozen, to: 'polling', effects: [adopt, hold, freeze] },
  { state: 'idle', event: 'initError', to: 'idle', effects: [E403] },
  { state: 'idle', event: 'exit', when: node, to: 'empty', effects: [discardExited] },
  { state: 'idle', event: 'exit', when: provided, to: 'initializing', effects: [discardExited, spawnLazy] },
  { state: 'idle', event: 'close', to: 'closed', effects: [stop] },
  ...stray('idle'),
  ...illegal('idle', 'nextClosed', 'initTimeout', 'deadline'),
  ...unchanged('idle', 'start', 'invocationDone'),

  // ---- polling: the runtime waits in invocation/next
  { state: 'polling', event: 'invoke', to: 'running', effects: [dispatch] },
  { state: 'polling', event: 'next', to: 'polling', effects: [E403] },
  { state: 'polling', event: 'nextClosed', to: 'idle', effects: [dropPoll] },
  { state: 'polling', event: 'initError', to: 'polling', effects: [E403] },
  { state: 'polling', event: 'exit', when: node, to: 'empty', effects: [dropPoll, discardExited] },
  {
    state: 'polling',
    event: 'exit',
    when: provided,
    to: 'initializing',
    effects: [dropPoll, discardExited, spawnLazy],
  },
  { state: 'polling', event: 'close', to: 'closed', effects: [stop] },
  ...stray('polling'),
  ...illegal('polling', 'initTimeout', 'deadline'),
  ...unchanged('polling', 'start', 'invocationDone'),

  // ---- awaitingInit: an invocation waits for the init
  { state: 'awaitingInit', event: 'next', to: 'running', effects: [adopt, completeInit, hold, dispatch] },
  {
    state: 'awaitingInit',
    event: 'initError',
    to: 'resetting',
    effects: [adopt, failError, answer('initFailure')],
  },
  { state: 'awaitingInit', event: 'exit', to: 'resetting', effects: [failExit, answer('initFailure')] },
  { state: 'awaitingInit', event: 'initTimeout', to: 'resetting', effects: [answer('initTimeout')] },
  { state: 'awaitingInit', event: 'close', to: 'closed', effects: [failExit, answer('initFailure'), stop] },
  ...stray('awaitingInit'),
  ...illegal('awaitingInit', 'invoke', 'nextClosed', 'deadline', 'invocationDone'),
  ...unchanged('awaitingInit', 'start'),

  // ---- awaitingNext: an invocation waits for the initialised runtime to ask for it
  { state: 'awaitingNext', event: 'next', to: 'running', effects: [adopt, hold, dispatch] },
  { state: 'awaitingNext', event: 'initError', to: 'awaitingNext', effects: [E403] },
  { state: 'awaitingNext', event: 'exit', to: 'awaitingInit', effects: [discardExited, spawnForInvocation] },
  { state: 'awaitingNext', event: 'initTimeout', to: 'resetting', effects: [answer('initTimeout')] },
  { state: 'awaitingNext', event: 'close', to: 'closed', effects: [answer('exit'), stop] },
  ...stray('awaitingNext'),
  ...illegal('awaitingNext', 'invoke', 'nextClosed', 'deadline', 'invocationDone'),
  ...unchanged('awaitingNext', 'start'),

  // ---- running: the handler has the event
  { state: 'running', event: 'next', to: 'running', effects: [E403] },
  { state: 'running', event: 'response', to: 'idle', effects: [answer('response')] },
  { state: 'running', event: 'error', to: 'idle', effects: [answer('error')] },
  { state: 'running', event: 'initError', to: 'running', effects: [E403] },
  { state: 'running', event: 'exit', to: 'resetting', effects: [answer('exit')] },
  { state: 'running', event: 'deadline', to: 'resetting', effects: [answer('timeout')] },
  { state: 'running', event: 'close', to: 'closed', effects: [answer('exit'), stop] },
  ...illegal('running', 'invoke', 'nextClosed', 'initTimeout', 'invocationDone'),
  ...unchanged('running', 'start'),

  // ---- resetting: the invocation failed, its process is being stopped
  { state: 'resetting', event: 'invocationDone', to: 'initializing', effects: [spawnEager] },
  { state: 'resetting', event: 'next', when: node, to: 'resetting', effects: [E403] },
  {
    state: 'resetting',
    event: 'next',
    when: providedThawed,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold],
  },
  {
    state: 'resetting',
    event: 'next',
    when: providedFrozen,
    to: 'polling',
    effects: [spawnLazy, adopt, completeInit, hold, freeze],
  },
  { state: 'resetting', event: 'initError', when: node, to: 'resetting', effects: [E403] },
  {
    state: 'resetting',
    event: 'initError',
    when: provided,
    to: 'initFailed',
    effects: [spawnLazy, adopt, failError],
  },
  { state: 'resetting', event: 'close', to: 'closed', effects: [stop] },
  ...stray('resetting'),
  ...illegal('resetting', 'invoke', 'nextClosed', 'initTimeout', 'deadline'),
  ...unchanged('resetting', 'start', 'exit'),

  // ---- closed: shut down
  { state: 'closed', event: 'invoke', to: 'closed', effects: [answer('exit')] },
  { state: 'closed', event: 'next', to: 'closed', effects: [E403] },
  { state: 'closed', event: 'initError', to: 'closed', effects: [E403] },
  ...stray('closed'),
  ...illegal('closed', 'nextClosed', 'initTimeout', 'deadline'),
  ...unchanged('closed', 'start', 'exit', 'invocationDone', 'close'),
];

const matches = (row: Row, o: MachineOptions): boolean =>
  Object.entries(row.when ?? {}).every(([k, v]) => o[k as keyof MachineOptions] === v);

const label = (o: MachineOptions): string =>
  `${o.provided ? 'provided' : 'node'}${o.freezeIdle ? ', freezeIdle' : ''}`;

const CASES = TABLE.flatMap((row) =>
  VARIANTS.filter((o) => matches(row, o)).map((options) => ({
    name: `${row.state} + ${row.event} (${label(options)}) → ${row.to}`,
    ...row,
    options,
  })),
);

describe('transition: every (state, event) pair', () => {
  it.each(CASES)('$name', ({ state, event, options, to, effects }) => {
    expect(transition(state, event, options)).toEqual({ state: to, effects });
  });

  it('the table has exactly one row for every state × event × options', () => {
    const missing: string[] = [];
    const doubled: string[] = [];
    for (const state of STATES)
      for (const event of EVENTS)
        for (const o of VARIANTS) {
          const n = TABLE.filter((r) => r.state === state && r.event === event && matches(r, o)).length;
          if (n === 0) missing.push(`${state} + ${event} (${label(o)})`);
          if (n > 1) doubled.push(`${state} + ${event} (${label(o)})`);
        }
    expect({ missing, doubled }).toEqual({ missing: [], doubled: [] });
    expect(CASES).toHaveLength(STATES.length * EVENTS.length * VARIANTS.length);
  });
});

describe('transition: properties of the table', () => {
  const all = STATES.flatMap((state) =>
    EVENTS.flatMap((event) => VARIANTS.map((o) => ({ state, event, o, t: transition(state, event, o) }))),
  );

  it('an illegal pair or a refused call changes nothing and does nothing else', () => {
    for (const { state, t } of all) {
      if (t.effects.some((e) => e.type === 'illegal' || e.type === 'reject')) {
        expect(t).toEqual({ state, effects: [t.effects[0]] });
      }
    }
  });

  it('answers an invocation only from a state that has one (and closed, which refuses it)', () => {
    const withInvocation = new Set<EnvState>(['awaitingInit', 'awaitingNext', 'running', 'closed']);
    for (const { state, event, t } of all) {
      if (t.effects.some((e) => e.type === 'answer')) {
        expect(withInvocation.has(state) || event === 'invoke', `${state} + ${event}`).toBe(true);
      }
    }
  });

  it('reaches every state from empty', () => {
    const seen = new Set<EnvState>(['empty']);
    const queue: EnvState[] = ['empty'];
    for (let s = queue.shift(); s !== undefined; s = queue.shift()) {
      for (const event of EVENTS)
        for (const o of VARIANTS) {
          const next = transition(s, event, o).state;
          if (!seen.has(next)) {
            seen.add(next);
            queue.push(next);
          }
        }
    }
    expect([...seen].sort()).toEqual([...STATES].sort());
  });

  it('leaves closed for nothing', () => {
    for (const { state, t } of all) if (state === 'closed') expect(t.state).toBe('closed');
  });
});

describe('isWarm', () => {
  it.each(
    STATES.map((state) => ({ state, warm: ['idle', 'polling', 'awaitingNext', 'running'].includes(state) })),
  )('$state: $warm', ({ state, warm }) => {
    expect(isWarm(state)).toBe(warm);
  });
});
