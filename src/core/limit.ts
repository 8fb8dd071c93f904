import type { AcquireOptions, Admission, AdmissionStats, Lifecycle, RunContext } from './admission.js';
import { systemClock } from './clock.js';
import { Limiter, NONE, Spread } from './Limiter.js';
import type { Permit } from './Permit.js';
import { Trace } from './trace.js';
import { checkCount, checkFunction, checkName, checkRemoved, checkRenamed } from './validate.js';

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
  /** Names the limiter on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'limit' */
  readonly name?: string;
}

/** Options of {@link LimitFunction.run}, {@link LimitFunction.acquire} and {@link LimitFunction.map}. */
export interface LimitRunOptions extends Omit<AcquireOptions, 'weight'> {}

/** What `limit().stats()` reports. */
export interface LimitStats extends AdmissionStats {
  readonly concurrency: number;
}

export interface LimitFunction extends Admission<Permit, LimitRunOptions>, Lifecycle {
  /** Run `fn(...args)` when a slot is free; resolves or rejects with its result. */
  <A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<Awaited<R>>;
  /** Calls running now (slots taken, by calls or by leases). */
  readonly running: number;
  /** Calls waiting for a slot. */
  readonly waiting: number;
  /** Change the limit at run time; raising it starts waiting calls at once. */
  concurrency: number;
  /**
   * Remove every waiting call, rejecting each with `reason` (default
   * `ClearedError`, `SLUICE_CLEARED`). Returns how many were removed.
   */
  clear(reason?: unknown): number;
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

function normalize(options: number | LimitOptions): { concurrency: number; maxWaiting: number; name: string } {
  if (typeof options === 'object' && options !== null) {
    checkRenamed(options, { maxPending: 'maxWaiting' });
    checkRemoved(options, 'rejectOnClear', 'clear() rejects every waiting call');
    return {
      concurrency: checkCount('concurrency', options.concurrency, 1, true),
      maxWaiting:
        options.maxWaiting === undefined
          ? Number.POSITIVE_INFINITY
          : checkCount('maxWaiting', options.maxWaiting, 0, true),
      name: checkName(options.name, 'limit'),
    };
  }
  return {
    concurrency: checkCount('concurrency', options, 1, true),
    maxWaiting: Number.POSITIVE_INFINITY,
    name: 'limit',
  };
}

/**
 * Bounded concurrency for plain async functions: `limited(fn, ...args)`,
 * several times cheaper per call than the usual limit-function packages
 * (bench/RESULTS.md), with a bounded backlog and cancellable waits.
 *
 * ```ts
 * const limited = limit(20);
 * const users = await limited.map(ids, (id) => fetchUser(id));
 * ```
 *
 * A call that finds a free slot and no one waiting starts synchronously;
 * otherwise it waits in FIFO order (priority first, for `run`) in the one
 * waiter engine, and runs in its caller's AsyncLocalStorage context.
 */
/**
 * For a wrapper that gives `limit()` another surface (the drop-ins): a
 * behaviour it needs. Not part of the public API.
 */
export const LIMIT_HOOKS: unique symbol = Symbol('sluice.limitHooks');
export interface LimitHooks {
  /** `clear()` forgets the waiting calls (their promises never settle) instead of rejecting them. */
  readonly dropOnClear?: boolean;
}

export function limit(options: number | LimitOptions): LimitFunction {
  const { concurrency, maxWaiting, name } = normalize(options);
  const hooks = typeof options === 'object' ? (options as { [LIMIT_HOOKS]?: LimitHooks })[LIMIT_HOOKS] : undefined;
  // `limited` is the part the admission channel names; it calls `core` only once made.
  let core: Limiter;
  // A plain function (not a rest parameter) so that the common 0- and
  // 1-argument calls allocate no argument array.
  const limited = function limited(fn: (...args: never[]) => unknown) {
    checkFunction('fn', fn);
    // biome-ignore lint/complexity/noArguments: avoids a rest-parameter array per call (measured: -48 B per queued call).
    const count = arguments.length;
    if (count === 1) return core.call(fn, NONE);
    // biome-ignore lint/complexity/noArguments: see above.
    if (count === 2) return core.call(fn, arguments[1]);
    // biome-ignore lint/complexity/noArguments: see above.
    return core.call(fn, new Spread(Array.prototype.slice.call(arguments, 1)));
  } as unknown as LimitFunction;
  core = new Limiter(
    concurrency,
    maxWaiting,
    hooks?.dropOnClear === true,
    new Trace(limited, 'limit', name, systemClock),
  );
  Object.defineProperties(limited, {
    running: { get: () => core.running },
    waiting: { get: () => core.waiting },
    closed: { get: () => core.closed },
    concurrency: {
      get: () => core.concurrency,
      set(value: number) {
        core.concurrency = value;
      },
    },
    clear: { value: (reason?: unknown) => (reason === undefined ? core.clear() : core.clear(reason)) },
    run: { value: core.run.bind(core) },
    acquire: { value: core.acquire.bind(core) },
    tryAcquire: { value: core.tryAcquire.bind(core) },
    map: { value: core.map.bind(core) },
    onIdle: { value: core.onIdle.bind(core) },
    close: { value: core.close.bind(core) },
    destroy: { value: core.destroy.bind(core) },
    stats: { value: core.stats.bind(core) },
    [Symbol.asyncDispose]: { value: core.close.bind(core) },
  });
  return limited;
}
