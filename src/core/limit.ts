import type { AcquireOptions, Admission, AdmissionStats, RunContext } from './admission.js';
import { systemClock } from './clock.js';
import { contextFree } from './context.js';
import { ClearedError, ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { Permit, type PermitOwner } from './Permit.js';
import {
  checkBoolean,
  checkCount,
  checkFiniteNumber,
  checkFunction,
  checkMs,
  checkRenamed,
  checkSignal,
  show,
} from './validate.js';
import { type Waiter, Waiters } from './Waiters.js';

/** Options of {@link limit}. */
export interface LimitOptions {
  /** Most calls running at once. An integer >= 1, or Infinity. */
  readonly concurrency: number;
  /**
   * Most calls allowed to wait. One more rejects at once with `QueueFullError`
   * (`SLUICE_QUEUE_FULL`): load shedding instead of an unbounded backlog.
   * An integer >= 0, or Infinity. @default Infinity
   */
  readonly maxWaiting?: number;
  /**
   * Whether `clearQueue()` rejects the calls it removes (with `ClearedError`,
   * `SLUICE_CLEARED`). When false they are dropped and their promises never
   * settle, as in p-limit's default. @default true
   */
  readonly rejectOnClear?: boolean;
}

/** Options of {@link LimitFunction.run}, {@link LimitFunction.acquire} and {@link LimitFunction.map}. */
export interface LimitRunOptions extends Omit<AcquireOptions, 'weight'> {}

/** What `limit().stats()` reports. */
export interface LimitStats extends AdmissionStats {
  readonly concurrency: number;
  readonly active: number;
  readonly waiting: number;
  readonly timedOut: number;
  readonly aborted: number;
  /** Refused because the queue was full, or the limit closed. */
  readonly rejected: number;
}

export interface LimitFunction extends Admission<Permit, LimitRunOptions> {
  /** Run `fn(...args)` when a slot is free; resolves or rejects with its result. */
  <A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<Awaited<R>>;
  /** Calls running now (slots taken, by calls or by leases). */
  readonly activeCount: number;
  /** Calls waiting for a slot. */
  readonly pendingCount: number;
  /** Change the limit at run time; raising it starts waiting calls at once. */
  concurrency: number;
  /** Remove every waiting call (rejecting them unless `rejectOnClear: false`). */
  clearQueue(): void;
  /**
   * Like the call form, with options for the wait (`signal`, `timeout`,
   * `priority`); `fn` receives `{ signal }`. Admitted at once, `fn` starts
   * synchronously. Never starts on an aborted signal.
   */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: LimitRunOptions): Promise<T>;
  /** A slot of this limit, held until `release()` (the admission protocol). */
  acquire(options?: LimitRunOptions): Promise<Permit>;
  /** A slot now, or `undefined`. Never jumps a waiting call. */
  tryAcquire(): Permit | undefined;
  /**
   * Map over an iterable (or async iterable) through this limit, results in
   * input order. Items are pulled only as slots free up, so a million-item
   * source does not become a million queued calls: `map` keeps one call per
   * slot in the limiter (as many as `concurrency` when it starts; 1024 when
   * that is Infinity; a later change of `concurrency` does not change it).
   * Rejects with the first error and stops pulling; calls already running
   * finish in the background.
   */
  map<T, R>(
    iterable: Iterable<T> | AsyncIterable<T>,
    fn: (value: T, index: number) => R | PromiseLike<R>,
    options?: LimitRunOptions,
  ): Promise<Awaited<R>[]>;
  /** Resolves when nothing is running or waiting. */
  onIdle(): Promise<void>;
  /**
   * Graceful: refuse new calls (`ClosedError`); the calls already queued still
   * run (they were accepted). Resolves once nothing runs or waits. Idempotent.
   */
  close(): Promise<void>;
  /** Now: refuse new calls and reject every waiting one with `ClosedError` (`cause` = `reason`); resolves once running calls end. */
  destroy(reason?: unknown): Promise<void>;
  /** Whether `close()` or `destroy()` was called. */
  readonly closed: boolean;
  stats(): LimitStats;
}

/** More than one argument. */
class Spread {
  constructor(readonly list: unknown[]) {}
}

/** "Called with no arguments": distinct from a single `undefined` argument. */
const NONE: unique symbol = Symbol('none');

/** A waiter that is an `acquire()`, not a call: it is granted a lease. */
const LEASE: unique symbol = Symbol('lease');

/** Call without allocating an argument array for the common 0- and 1-argument calls. */
function invoke(fn: (...args: never[]) => unknown, args: unknown): unknown {
  if (args === NONE) return fn();
  if (args instanceof Spread) return fn(...(args.list as never[]));
  return (fn as (arg: unknown) => unknown)(args);
}

/** Internal knobs for the p-limit drop-in (its timing and clear error differ). */
export interface LimitInternals {
  /** Start even an immediately admitted call in a microtask, as p-limit does. */
  readonly deferStart?: boolean;
  readonly clearError?: () => unknown;
  readonly validateConcurrency?: (value: unknown) => number;
}

function normalize(options: number | LimitOptions): Required<LimitOptions> {
  if (typeof options === 'object' && options !== null) {
    checkRenamed(options, { maxPending: 'maxWaiting' });
    return {
      concurrency: checkCount('concurrency', options.concurrency, 1, true),
      maxWaiting:
        options.maxWaiting === undefined
          ? Number.POSITIVE_INFINITY
          : checkCount('maxWaiting', options.maxWaiting, 0, true),
      rejectOnClear: options.rejectOnClear === undefined ? true : checkBoolean('rejectOnClear', options.rejectOnClear),
    };
  }
  return {
    concurrency: checkCount('concurrency', options, 1, true),
    maxWaiting: Number.POSITIVE_INFINITY,
    rejectOnClear: true,
  };
}

/**
 * Bounded concurrency for plain async functions: the p-limit shape, about
 * 3-4x cheaper per call (bench/RESULTS.md), with a bounded backlog and cancellable waits.
 *
 * ```ts
 * const limited = limit(20);
 * const users = await limited.map(ids, (id) => fetchUser(id));
 * ```
 *
 * A call that finds a free slot and no one waiting starts synchronously;
 * otherwise it waits in FIFO order (priority first, for `run`) in the one
 * waiter engine. Waiting calls run in the caller's AsyncLocalStorage context:
 * the engine holds a promise created by the caller, and the work runs in that
 * promise's reaction (skipped when no AsyncLocalStorage can observe the
 * difference: see context.ts).
 */
export function limit(options: number | LimitOptions, internals: LimitInternals = {}): LimitFunction {
  const validateConcurrency =
    internals.validateConcurrency ?? ((value: unknown) => checkCount('concurrency', value, 1, true));
  const config = internals.validateConcurrency
    ? {
        concurrency: internals.validateConcurrency(typeof options === 'object' ? options?.concurrency : options),
        maxWaiting: Number.POSITIVE_INFINITY,
        rejectOnClear: typeof options === 'object' ? options.rejectOnClear === true : false,
      }
    : normalize(options);
  let { concurrency } = config;
  const { maxWaiting, rejectOnClear } = config;
  const deferStart = internals.deferStart === true;
  const clearError = internals.clearError ?? (() => new ClearedError('The call was removed by clearQueue()'));

  let active = 0;
  let closed = false;
  let rejected = 0;
  let idleResolvers: (() => void)[] = [];

  const checkIdle = (): void => {
    if (active === 0 && waiters.size === 0 && idleResolvers.length > 0) {
      const resolvers = idleResolvers;
      idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
  };

  /** A waiter's `data` is the function (or LEASE), `extra` its arguments (NONE, one, or a Spread). */
  const waiters: Waiters = new Waiters(
    {
      left: checkIdle,
      timeoutError: (_waiter, ms): TimeoutError =>
        new TimeoutError(
          `limit() wait timed out after ${ms} ms (${active}/${concurrency} running, ${waiters.size} waiting)`,
        ),
    },
    systemClock,
  );

  /** A slot is free and nobody waits: a call may start now (never ahead of a waiter). */
  const freeNow = (): boolean => active < concurrency && waiters.size === 0 && !closed;

  const settled = (): void => {
    active--;
    next();
  };
  const owner: PermitOwner = { releasePermit: settled };

  const start = <R>(fn: (...args: never[]) => R | PromiseLike<R>, args: unknown): Promise<Awaited<R>> => {
    let promise: Promise<Awaited<R>>;
    try {
      promise = Promise.resolve(invoke(fn, args)) as Promise<Awaited<R>>;
    } catch (error) {
      settled();
      return Promise.reject(error);
    }
    promise.then(settled, settled);
    return promise;
  };

  // For a call that waited: release the slot in the same reaction that
  // settles the caller's promise (one promise fewer per call than `start`).
  const passValue = (value: unknown): unknown => {
    settled();
    return value;
  };
  const passError = (error: unknown): never => {
    settled();
    throw error;
  };

  /** Start a `direct` call: its result settles the caller's promise through `resolve`. */
  const startDirect = (resolve: (value: unknown) => void, fn: (...args: never[]) => unknown, args: unknown): void => {
    let result: unknown;
    try {
      result = invoke(fn, args);
    } catch (error) {
      settled();
      resolve(Promise.reject(error));
      return;
    }
    // Settle the caller with the value itself, not with a promise to adopt:
    // adoption costs a microtask and four objects per call. The two closures
    // live only while the call runs.
    Promise.resolve(result).then(
      (value) => {
        settled();
        resolve(value);
      },
      (error: unknown) => {
        settled();
        resolve(Promise.reject(error));
      },
    );
  };

  const next = (): void => {
    while (active < concurrency) {
      const head: Waiter | undefined = waiters.takeFirst();
      if (head === undefined) break;
      active++;
      const fn = head.data as ((...args: never[]) => unknown) | typeof LEASE;
      if (fn === LEASE) head.resolve(new Permit(owner, 1));
      else if (head.direct) startDirect(head.resolve, fn, head.extra);
      else head.resolve(head); // the gate's reaction (resume) reads the call off the waiter
    }
    checkIdle();
  };

  /**
   * Runs in the reaction of the caller's own promise, so in the caller's
   * AsyncLocalStorage context. One shared function: no closure per call.
   */
  const resume = (waiter: Waiter): unknown => {
    let result: unknown;
    try {
      result = invoke(waiter.data as (...args: never[]) => unknown, waiter.extra);
    } catch (error) {
      settled();
      throw error;
    }
    if (result instanceof Promise) return result.then(passValue, passError);
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === 'function') {
      return Promise.resolve(result).then(passValue, passError);
    }
    settled();
    return result;
  };

  const refuse = (): Promise<never> | undefined => {
    if (closed) {
      rejected++;
      return Promise.reject(new ClosedError('limit() is closed'));
    }
    const waiting = waiters.size;
    if (waiting >= maxWaiting) {
      rejected++;
      return Promise.reject(
        new QueueFullError(
          `limit() queue is full (${waiting}/${maxWaiting} waiting, ${active}/${concurrency} running)`,
        ),
      );
    }
    return undefined;
  };

  const enqueue = <R>(
    fn: ((...args: never[]) => R | PromiseLike<R>) | typeof LEASE,
    args: unknown,
    signal: AbortSignal | undefined,
    timeout: number,
    priority: number,
  ): Promise<Awaited<R>> => {
    const refused = refuse();
    if (refused !== undefined) return refused;
    // A waiting call runs in its caller's AsyncLocalStorage context: it waits
    // on a gate promise created here and runs in that promise's reaction. When
    // there is no context to carry (see context.ts), the caller's own promise
    // is resolved directly: one promise and ~100 retained bytes fewer per call.
    const direct = fn !== LEASE && contextFree();
    const gate = waiters.wait<Waiter>(1, priority, fn, args, signal, timeout, direct);
    if (fn === LEASE || direct) return gate as unknown as Promise<Awaited<R>>;
    return gate.then(resume) as Promise<Awaited<R>>;
  };

  const call = <R>(fn: (...args: never[]) => R | PromiseLike<R>, args: unknown): Promise<Awaited<R>> => {
    if (freeNow()) {
      active++;
      if (!deferStart) return start(fn, args);
      return Promise.resolve().then(() => start(fn, args));
    }
    return enqueue(fn, args, undefined, Number.POSITIVE_INFINITY, 0);
  };

  // A plain function (not a rest parameter) so that the common 0- and
  // 1-argument calls allocate no argument array.
  const generator = function limited(fn: (...args: never[]) => unknown) {
    checkFunction('fn', fn);
    // biome-ignore lint/complexity/noArguments: avoids a rest-parameter array per call (measured: -48 B per queued call).
    const count = arguments.length;
    if (count === 1) return call(fn, NONE);
    // biome-ignore lint/complexity/noArguments: see above.
    if (count === 2) return call(fn, arguments[1]);
    // biome-ignore lint/complexity/noArguments: see above.
    return call(fn, new Spread(Array.prototype.slice.call(arguments, 1)));
  } as unknown as LimitFunction;

  const readOptions = (options: LimitRunOptions | undefined) => {
    const signal = checkSignal('signal', options?.signal);
    const timeout = options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
    const priority = options?.priority === undefined ? 0 : checkFiniteNumber('priority', options.priority);
    return { signal, timeout, priority };
  };

  const run = <T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: LimitRunOptions): Promise<T> => {
    checkFunction('fn', fn);
    const { signal, timeout, priority } = readOptions(options);
    if (signal?.aborted) return waiters.refuseAborted(signal);
    const context: RunContext = { signal };
    if (freeNow()) {
      active++;
      return start(fn as never, context) as Promise<T>;
    }
    if (timeout === 0 && !closed) return timedOutNow();
    // The work must not start on a signal that aborted as the slot came (after the grant, before the reaction).
    const guarded =
      signal === undefined ? fn : (ctx: RunContext) => (signal.aborted ? Promise.reject(signal.reason) : fn(ctx));
    return enqueue(guarded as never, context, signal, timeout, priority) as Promise<T>;
  };

  const timedOutNow = (): Promise<never> =>
    Promise.reject(
      new TimeoutError(`limit() wait timed out after 0 ms (${active}/${concurrency} running, ${waiters.size} waiting)`),
    );

  const acquire = (options?: LimitRunOptions): Promise<Permit> => {
    const { signal, timeout, priority } = readOptions(options);
    if (signal?.aborted) return waiters.refuseAborted(signal);
    if (freeNow()) {
      active++;
      return Promise.resolve(new Permit(owner, 1));
    }
    if (timeout === 0 && !closed) return timedOutNow();
    return enqueue<Permit>(LEASE, undefined, signal, timeout, priority);
  };

  const tryAcquire = (): Permit | undefined => {
    if (closed || waiters.size > 0 || active >= concurrency) return undefined;
    active++;
    return new Permit(owner, 1);
  };

  const map = async <T, R>(
    iterable: Iterable<T> | AsyncIterable<T>,
    fn: (value: T, index: number) => R | PromiseLike<R>,
    options?: LimitRunOptions,
  ): Promise<Awaited<R>[]> => {
    checkFunction('fn', fn);
    const signal = checkSignal('signal', options?.signal);
    const asyncSource = typeof (iterable as AsyncIterable<T>)?.[Symbol.asyncIterator] === 'function';
    if (!asyncSource && typeof (iterable as Iterable<T>)?.[Symbol.iterator] !== 'function') {
      throw new TypeError(`Expected \`iterable\` to be an iterable or async iterable, got ${show(iterable)}`);
    }
    signal?.throwIfAborted();
    const iterator = asyncSource
      ? (iterable as AsyncIterable<T>)[Symbol.asyncIterator]()
      : (iterable as Iterable<T>)[Symbol.iterator]();
    const results: Awaited<R>[] = [];
    let index = 0;
    let stopped = false;
    let done = false;
    const apply = (value: T, i: number) => fn(value, i);
    const lane = async (): Promise<void> => {
      while (!stopped && !done) {
        const step = await iterator.next();
        if (step.done) {
          done = true;
          return;
        }
        if (stopped) return;
        const i = index++;
        const args = new Spread([step.value, i]);
        results[i] =
          signal === undefined ? await call(apply as never, args) : await enqueueOrStart(apply as never, args, signal);
      }
    };
    // One lane per slot: each keeps at most one call of this map in the limiter.
    const lanes = Number.isFinite(concurrency) ? concurrency : 1024;
    const running: Promise<void>[] = [];
    for (let i = 0; i < lanes; i++) running.push(lane());
    try {
      await Promise.all(running);
    } catch (error) {
      stopped = true;
      if (!done) await iterator.return?.();
      // The other lanes may still reject; they are observed here, not leaked.
      for (const promise of running) promise.catch(() => {});
      throw error;
    }
    return results;
  };

  /** A call with a signal for its wait: start now if a slot is free, else wait (abortable). */
  const enqueueOrStart = <R>(fn: (...args: never[]) => R | PromiseLike<R>, args: unknown, signal: AbortSignal) => {
    if (signal.aborted) return waiters.refuseAborted(signal);
    if (freeNow()) {
      active++;
      return start(fn, args);
    }
    return enqueue(fn, args, signal, Number.POSITIVE_INFINITY, 0);
  };

  const clearQueue = (): void => {
    if (rejectOnClear) waiters.failAll(clearError());
    else for (const waiter of waiters.takeAll()) void waiter; // dropped: their promises never settle (p-limit's default)
    next();
  };

  const onIdle = (): Promise<void> => {
    if (active === 0 && waiters.size === 0) return Promise.resolve();
    return new Promise((resolve) => idleResolvers.push(resolve));
  };

  const close = (): Promise<void> => {
    closed = true;
    return onIdle();
  };

  const destroy = (reason?: unknown): Promise<void> => {
    closed = true;
    const waiting = waiters.size;
    rejected += waiters.failAll(
      new ClosedError(`limit() was destroyed (${waiting} waiting rejected)`, { cause: reason }),
    );
    checkIdle();
    return onIdle();
  };

  const stats = (): LimitStats => ({
    concurrency,
    active,
    waiting: waiters.size,
    timedOut: waiters.counters.timedOut,
    aborted: waiters.counters.aborted,
    rejected,
  });

  Object.defineProperties(generator, {
    activeCount: { get: () => active },
    pendingCount: { get: () => waiters.size },
    concurrency: {
      get: () => concurrency,
      set(value: number) {
        concurrency = validateConcurrency(value);
        if (deferStart) queueMicrotask(next);
        else next();
      },
    },
    closed: { get: () => closed },
    clearQueue: { value: clearQueue },
    run: { value: run },
    acquire: { value: acquire },
    tryAcquire: { value: tryAcquire },
    map: { value: map },
    onIdle: { value: onIdle },
    close: { value: close },
    destroy: { value: destroy },
    stats: { value: stats },
  });
  return generator;
}
