/**
 * The life of one execution environment as a pure state machine: a state and an event give the
 * next state and the effects to carry out, as data. No processes, no sockets, no clocks: the
 * shell in environment.ts owns those, feeds events in and executes the effects in order.
 *
 * A state says at once whether there is a runtime process, how far its init got, whether it holds
 * an `invocation/next` request, and where the invocation of the moment stands (at most one).
 */

export const STATES = [
  /** No runtime process: before the first start, after a reset, after it ended between invocations. */
  'empty',
  /** A process was started (or, provided, is expected to connect); its init has not finished. */
  'initializing',
  /** Its init ended in `/init/error` or in the process's end; the next invocation reports it. */
  'initFailed',
  /** The eager init took longer than initTimeoutSeconds; the process was killed. */
  'initTimedOut',
  /** Initialised, no invocation, and the runtime does not wait in `invocation/next` (it is busy). */
  'idle',
  /** Initialised, no invocation, the runtime waits in `invocation/next`. */
  'polling',
  /** An invocation waits for the runtime's init to finish. */
  'awaitingInit',
  /** An invocation waits for an initialised runtime to ask for it. */
  'awaitingNext',
  /** The event was handed to the runtime; the deadline runs. */
  'running',
  /** The invocation ended in a timeout, an exit or an init failure; its process is being stopped. */
  'resetting',
  /** Shut down: no process is started any more. */
  'closed',
] as const;
export type EnvState = (typeof STATES)[number];

export const EVENTS = [
  /** The pod's first init (Environment.start). */
  'start',
  /** An invocation arrives (the pool gave it this environment). */
  'invoke',
  /** `GET invocation/next`. */
  'next',
  /** The held `invocation/next` request's connection closed. */
  'nextClosed',
  /** `POST invocation/{id}/response` for the invocation that runs. */
  'response',
  /** `POST invocation/{id}/error` for the invocation that runs. */
  'error',
  /** `POST init/error`. */
  'initError',
  /** The runtime process of the current generation ended. */
  'exit',
  /** initTimeoutSeconds passed: the eager init's timer, or an invocation's wait for the runtime. */
  'initTimeout',
  /** The handler's timeout passed. */
  'deadline',
  /** The invocation answered earlier has written its log lines and result. */
  'invocationDone',
  /** Shutdown. */
  'close',
] as const;
export type EnvEvent = (typeof EVENTS)[number];

export interface MachineOptions {
  /** `runtime: provided`: the runtime is not spawned, it connects by itself (and may reconnect). */
  provided: boolean;
  /** SIGSTOP the process while it waits for an event. */
  freezeIdle: boolean;
}

/** How an invocation is answered; the shell supplies the body. */
export type Answer =
  | 'response'
  | 'error'
  /** The process ended (Runtime.ExitError). */
  | 'exit'
  /** The handler's timeout, after the event was handed over (Sandbox.Timedout). */
  | 'timeout'
  /** The wait for the runtime to take the event ran out (Sandbox.Timedout, no handler time). */
  | 'initTimeout'
  /** The generation's init failure: its `/init/error` body or its exit. */
  | 'initFailure';

export type InitFailureKind = 'error' | 'exit' | 'timeout';

export type Effect =
  /** Start a new generation (spawn its process); `eager` arms the init timer; `forInvocation` hands it to the waiting invocation (a cold start). */
  | { type: 'spawn'; eager: boolean; forInvocation?: true }
  /** Forget the generation (its timer, its init log); `exited`: its process ended between invocations. */
  | { type: 'discard'; exited: boolean }
  /** SIGKILL the generation's process. */
  | { type: 'kill' }
  /** Find the process behind the Runtime API connection (provided). */
  | { type: 'adopt' }
  | { type: 'completeInit' }
  | { type: 'failInit'; failure: InitFailureKind }
  /** Keep the `invocation/next` request open. */
  | { type: 'hold' }
  /** Forget the held `invocation/next` request. */
  | { type: 'dropPoll' }
  | { type: 'freeze' }
  /** Stop the eager init timer: a waiting invocation bounds the init from now on. */
  | { type: 'stopInitTimer' }
  /** Bound the invocation's wait for the runtime (initTimeoutSeconds). */
  | { type: 'waitForInit' }
  /** Hand the event to the held `invocation/next` request and start the deadline. */
  | { type: 'dispatch' }
  | { type: 'answer'; with: Answer }
  /** Refuse the Runtime API call with this status and error type. */
  | { type: 'reject'; status: 400 | 403; errorType: 'InvalidRequestID' | 'InvalidStateTransition' }
  /** Shutdown: end the held request, stop the process gracefully. */
  | { type: 'stop' }
  /** The pair must not happen (a bug of the shell or the pool): nothing changes. */
  | { type: 'illegal' };

export interface Transition {
  state: EnvState;
  effects: Effect[];
}

const OUT_OF_ORDER: Effect = { type: 'reject', status: 403, errorType: 'InvalidStateTransition' };
const BAD_ID: Effect = { type: 'reject', status: 400, errorType: 'InvalidRequestID' };
const ILLEGAL: Effect = { type: 'illegal' };

const to = (state: EnvState, ...effects: Effect[]): Transition => ({ state, effects });
const freeze = (o: MachineOptions): Effect[] => (o.freezeIdle ? [{ type: 'freeze' }] : []);
const lazy: Effect = { type: 'spawn', eager: false };

/** A provided runtime that connects with no live generation: a fresh process, a fresh generation. */
function freshConnection(event: EnvEvent, o: MachineOptions): Transition | undefined {
  if (!o.provided) return undefined;
  if (event === 'next')
    return to('polling', lazy, { type: 'adopt' }, { type: 'completeInit' }, { type: 'hold' }, ...freeze(o));
  if (event === 'initError')
    return to('initFailed', lazy, { type: 'adopt' }, { type: 'failInit', failure: 'error' });
  return undefined;
}

/** The Runtime API calls that are refused in a state: wrong ids get 400, the rest 403. */
function refused(event: EnvEvent): Effect | undefined {
  if (event === 'response' || event === 'error') return BAD_ID;
  if (event === 'next' || event === 'initError') return OUT_OF_ORDER;
  return undefined;
}

/** The process ended while no invocation waited for it (initialised, between invocations). */
function endedBetween(o: MachineOptions, held: boolean): Transition {
  const drop: Effect[] = held ? [{ type: 'dropPoll' }] : [];
  const discard: Effect = { type: 'discard', exited: true };
  return o.provided ? to('initializing', ...drop, discard, lazy) : to('empty', ...drop, discard);
}

type Handler = (event: EnvEvent, o: MachineOptions) => Transition | undefined;

/**
 * What each state does with each event; an event a handler does not name falls to the rules in
 * `transition` (a refused Runtime API call, else illegal). `start` is only acted on in `empty`;
 * `invocationDone` only in `resetting` (elsewhere the invocation ended without a reset).
 */
const HANDLERS: Record<EnvState, Handler> = {
  empty: (e, o) => {
    if (e === 'start') return to('initializing', { type: 'spawn', eager: true });
    if (e === 'invoke') return to('awaitingInit', lazy, { type: 'waitForInit' });
    if (e === 'close') return to('closed');
    return freshConnection(e, o);
  },
  initializing: (e, o) => {
    switch (e) {
      case 'invoke':
        return to('awaitingInit', { type: 'stopInitTimer' }, { type: 'waitForInit' });
      case 'next':
        return to('polling', { type: 'adopt' }, { type: 'completeInit' }, { type: 'hold' }, ...freeze(o));
      case 'initError':
        return to('initFailed', { type: 'adopt' }, { type: 'failInit', failure: 'error' });
      case 'exit':
        return to('initFailed', { type: 'failInit', failure: 'exit' });
      case 'initTimeout':
        return to('initTimedOut', { type: 'failInit', failure: 'timeout' }, { type: 'kill' });
      case 'close':
        return to('closed', { type: 'failInit', failure: 'exit' }, { type: 'stop' });
      default:
        return undefined;
    }
  },
  initFailed: (e) => {
    if (e === 'invoke') return to('resetting', { type: 'answer', with: 'initFailure' });
    // The process ends after it reported its init error.
    if (e === 'exit') return to('initFailed');
    if (e === 'close') return to('closed', { type: 'stop' });
    return undefined;
  },
  initTimedOut: (e, o) => {
    if (e === 'invoke')
      return to('awaitingInit', { type: 'kill' }, { type: 'discard', exited: false }, lazy, {
        type: 'waitForInit',
      });
    // The killed process ends.
    if (e === 'exit') return to('initTimedOut');
    if (e === 'close') return to('closed', { type: 'stop' });
    // A custom runtime that connects after the timeout (e.g. its container started late) is a fresh process.
    if (e === 'next') return freshConnection(e, o);
    return undefined;
  },
  idle: (e, o) => {
    if (e === 'invoke') return to('awaitingNext', { type: 'waitForInit' });
    if (e === 'next') return to('polling', { type: 'adopt' }, { type: 'hold' }, ...freeze(o));
    if (e === 'exit') return endedBetween(o, false);
    if (e === 'close') return to('closed', { type: 'stop' });
    return undefined;
  },
  polling: (e, o) => {
    if (e === 'invoke') return to('running', { type: 'dispatch' });
    if (e === 'nextClosed') return to('idle', { type: 'dropPoll' });
    if (e === 'exit') return endedBetween(o, true);
    if (e === 'close') return to('closed', { type: 'stop' });
    return undefined;
  },
  awaitingInit: (e) => {
    switch (e) {
      case 'next':
        return to(
          'running',
          { type: 'adopt' },
          { type: 'completeInit' },
          { type: 'hold' },
          { type: 'dispatch' },
        );
      case 'initError':
        return to(
          'resetting',
          { type: 'adopt' },
          { type: 'failInit', failure: 'error' },
          { type: 'answer', with: 'initFailure' },
        );
      case 'exit':
        return to(
          'resetting',
          { type: 'failInit', failure: 'exit' },
          { type: 'answer', with: 'initFailure' },
        );
      case 'initTimeout':
        return to('resetting', { type: 'answer', with: 'initTimeout' });
      case 'close':
        return to(
          'closed',
          { type: 'failInit', failure: 'exit' },
          { type: 'answer', with: 'initFailure' },
          { type: 'stop' },
        );
      default:
        return undefined;
    }
  },
  awaitingNext: (e) => {
    if (e === 'next') return to('running', { type: 'adopt' }, { type: 'hold' }, { type: 'dispatch' });
    // The waiting invocation gets a fresh process, and reports its init (a cold start).
    if (e === 'exit')
      return to(
        'awaitingInit',
        { type: 'discard', exited: true },
        { type: 'spawn', eager: false, forInvocation: true },
      );
    if (e === 'initTimeout') return to('resetting', { type: 'answer', with: 'initTimeout' });
    if (e === 'close') return to('closed', { type: 'answer', with: 'exit' }, { type: 'stop' });
    return undefined;
  },
  running: (e) => {
    if (e === 'response' || e === 'error') return to('idle', { type: 'answer', with: e });
    if (e === 'exit') return to('resetting', { type: 'answer', with: 'exit' });
    if (e === 'deadline') return to('resetting', { type: 'answer', with: 'timeout' });
    if (e === 'close') return to('closed', { type: 'answer', with: 'exit' }, { type: 'stop' });
    return undefined;
  },
  resetting: (e, o) => {
    if (e === 'invocationDone') return to('initializing', { type: 'spawn', eager: true });
    // The process being stopped ends.
    if (e === 'exit') return to('resetting');
    if (e === 'close') return to('closed', { type: 'stop' });
    return freshConnection(e, o);
  },
  closed: (e) => {
    // Shutdown drains the invoke endpoint first; a call that still comes finds no process.
    if (e === 'invoke') return to('closed', { type: 'answer', with: 'exit' });
    if (e === 'exit' || e === 'close') return to('closed');
    return undefined;
  },
};

/** States whose invocation is still under way: `invoke` and `invocationDone` cannot come in them. */
const INVOKING: ReadonlySet<EnvState> = new Set(['awaitingInit', 'awaitingNext', 'running', 'resetting']);

/** The next state and the effects, in the order the shell carries them out. */
export function transition(state: EnvState, event: EnvEvent, options: MachineOptions): Transition {
  const handled = HANDLERS[state](event, options);
  if (handled) return handled;
  // `start` once the first init began, and `invocationDone` of an invocation that needed no reset,
  // change nothing.
  if (event === 'start') return to(state);
  if (event === 'invocationDone' && !INVOKING.has(state)) return to(state);
  const refusal = refused(event);
  if (refusal) return to(state, refusal);
  return to(state, ILLEGAL);
}

/** It has a runtime that finished its init (the pool prefers such an environment). */
export function isWarm(state: EnvState): boolean {
  return state === 'idle' || state === 'polling' || state === 'awaitingNext' || state === 'running';
}
