import type { RunContext } from './admission.js';
import { contextFree } from './context.js';
import { Deque } from './Deque.js';
import { ClearedError, QueueFullError } from './errors.js';
import { pending, Rejection, rejectWaiting, takeResolver } from './gate.js';
import { checkBoolean, checkCount, checkFunction, checkSignal, show } from './validate.js';

/** Options of {@link limit}. */
export interface LimitOptions {
  /** Most calls running at once. An integer >= 1, or Infinity. */
  readonly concurrency: number;
  /**
   * Most calls allowed to wait. One more rejects at once with `QueueFullError`
   * (`SLUICE_QUEUE_FULL`): load shedding instead of an unbounded backlog.
   * An integer >= 0, or Infinity. @default Infinity
   */
  readonly maxPending?: number;
  /**
   * Whether `clearQueue()` rejects the calls it removes (with `ClearedError`,
   * `SLUICE_CLEARED`). When false they are dropped and their promises never
   * settle, as in p-limit's default. @default true
   */
  readonly rejectOnClear?: boolean;
}

/** Options of {@link LimitFunction.run} and {@link LimitFunction.map}. */
export interface LimitRunOptions {
  /** Abort while waiting: the call leaves the queue and rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
}

export interface LimitFunction {
  /** Run `fn(...args)` when a slot is free; resolves or rejects with its result. */
  <A extends unknown[], R>(fn: (...args: A) => R | PromiseLike<R>, ...args: A): Promise<Awaited<R>>;
  /** Calls running now. */
  readonly activeCount: number;
  /** Calls waiting for a slot. */
  readonly pendingCount: number;
  /** Change the limit at run time; raising it starts waiting calls at once. */
  concurrency: number;
  /** Remove every waiting call (rejecting them unless `rejectOnClear: false`). */
  clearQueue(): void;
  /** Like the call form, with an abort signal for the wait; `fn` receives `{ signal }`. */
  run<R>(fn: (context: RunContext) => R | PromiseLike<R>, options?: LimitRunOptions): Promise<Awaited<R>>;
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
}

/**
 * Waiting calls are stored flat in the ring buffer, four slots each:
 * `[go, fn, args, direct]`, with no object per call (retained bytes are what a
 * big backlog costs, mostly in GC time). `go` resolves the caller's gate
 * promise, or, for a `direct` call, the caller's promise itself.
 * A call that can be aborted is one `Abortable` in the first slot instead, so
 * that abort can mark it; `args` is the only argument, NONE, or a `Spread`.
 */
type Go = (value: Started | Rejection) => void;

class Abortable {
  go: Go | null;
  constructor(
    go: Go,
    readonly fn: (...args: never[]) => unknown,
    readonly args: unknown,
    readonly signal: AbortSignal,
  ) {
    this.go = go;
  }
  /** Set right after construction (it needs the entry). */
  onAbort: () => void = noop;
}

const noop = (): void => {};

/** More than one argument. */
class Spread {
  constructor(readonly list: unknown[]) {}
}

/** What a gate is resolved with when its call may start. Short-lived. */
class Started {
  constructor(
    readonly fn: (...args: never[]) => unknown,
    readonly args: unknown,
  ) {}
}

/** "Called with no arguments": distinct from a single `undefined` argument. */
const NONE: unique symbol = Symbol('none');

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
    return {
      concurrency: checkCount('concurrency', options.concurrency, 1, true),
      maxPending:
        options.maxPending === undefined
          ? Number.POSITIVE_INFINITY
          : checkCount('maxPending', options.maxPending, 0, true),
      rejectOnClear: options.rejectOnClear === undefined ? true : checkBoolean('rejectOnClear', options.rejectOnClear),
    };
  }
  return {
    concurrency: checkCount('concurrency', options, 1, true),
    maxPending: Number.POSITIVE_INFINITY,
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
 * otherwise it waits in FIFO order. Waiting calls run in the caller's
 * AsyncLocalStorage context: the queue holds a promise created by the caller,
 * and the work runs in that promise's reaction (skipped when no
 * AsyncLocalStorage can observe the difference: see context.ts).
 */
export function limit(options: number | LimitOptions, internals: LimitInternals = {}): LimitFunction {
  const validateConcurrency =
    internals.validateConcurrency ?? ((value: unknown) => checkCount('concurrency', value, 1, true));
  const config = internals.validateConcurrency
    ? {
        concurrency: internals.validateConcurrency(typeof options === 'object' ? options?.concurrency : options),
        maxPending: Number.POSITIVE_INFINITY,
        rejectOnClear: typeof options === 'object' ? options.rejectOnClear === true : false,
      }
    : normalize(options);
  let { concurrency } = config;
  const { maxPending, rejectOnClear } = config;
  const deferStart = internals.deferStart === true;
  const clearError = internals.clearError ?? (() => new ClearedError('The call was removed by clearQueue()'));

  let active = 0;
  /** Cancelled tasks still sitting in the queue. */
  let dead = 0;
  const queue = new Deque<unknown>(48);
  let idleResolvers: (() => void)[] = [];

  const settled = (): void => {
    active--;
    next();
  };

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

  /** Live waiting calls (queue slots / 4, minus aborted tombstones). */
  const waitingCount = (): number => queue.length / 4 - dead;

  /** Start a `direct` call: its result settles the caller's promise through `go`. */
  const startDirect = (go: Go, fn: (...args: never[]) => unknown, args: unknown): void => {
    let result: unknown;
    try {
      result = invoke(fn, args);
    } catch (error) {
      settled();
      (go as (value: unknown) => void)(Promise.reject(error));
      return;
    }
    // Settle the caller with the value itself, not with a promise to adopt:
    // adoption costs a microtask and four objects per call. The two closures
    // live only while the call runs.
    const resolve = go as (value: unknown) => void;
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
    while (active < concurrency && queue.length > 0) {
      const head = queue.shift() as Go | Abortable;
      const fn = queue.shift() as (...args: never[]) => unknown;
      const args = queue.shift();
      const direct = queue.shift() as boolean;
      if (typeof head === 'function') {
        active++;
        if (direct) startDirect(head, fn, args);
        else head(new Started(fn, args));
        continue;
      }
      const go = head.go;
      if (go === null) {
        dead--;
        continue;
      }
      head.go = null;
      head.signal.removeEventListener('abort', head.onAbort);
      active++;
      if (direct) startDirect(go, head.fn, head.args);
      else go(new Started(head.fn, head.args));
    }
    if (active === 0 && queue.length === 0 && idleResolvers.length > 0) {
      const resolvers = idleResolvers;
      idleResolvers = [];
      for (const resolve of resolvers) resolve();
    }
  };

  /**
   * Runs in the reaction of the caller's own promise, so in the caller's
   * AsyncLocalStorage context. One shared function: no closure per call.
   */
  const resume = (value: Started | Rejection): unknown => {
    if (value instanceof Rejection) throw value.error;
    let result: unknown;
    try {
      result = invoke(value.fn, value.args);
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

  const compact = (): void => {
    const slots = [...queue];
    queue.clear();
    for (let i = 0; i < slots.length; i += 4) {
      const head = slots[i];
      if (head instanceof Abortable && head.go === null) continue;
      queue.push(head);
      queue.push(slots[i + 1]);
      queue.push(slots[i + 2]);
      queue.push(slots[i + 3]);
    }
    dead = 0;
  };

  const enqueue = <R>(
    fn: (...args: never[]) => R | PromiseLike<R>,
    args: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<R>> => {
    const waiting = waitingCount();
    if (waiting >= maxPending) {
      return Promise.reject(
        new QueueFullError(
          `limit() queue is full (${waiting}/${maxPending} pending, ${active}/${concurrency} running)`,
        ),
      );
    }
    // A waiting call runs in its caller's AsyncLocalStorage context: it waits
    // on a gate promise created here and runs in that promise's reaction. When
    // there is no context to carry (see context.ts), the caller's own promise
    // is resolved directly: one promise and ~100 retained bytes fewer per call.
    const direct = contextFree();
    const gate = pending<Started | Rejection>();
    const go = takeResolver<Started | Rejection>();
    if (signal === undefined) {
      queue.push(go);
      queue.push(fn);
      queue.push(args);
      queue.push(direct);
    } else {
      const entry = new Abortable(go, fn as never, args, signal);
      entry.onAbort = () => {
        const resolveGate = entry.go;
        if (resolveGate === null) return;
        entry.go = null;
        dead++;
        rejectWaiting(resolveGate, direct, signal.reason);
        // Tombstones are skipped when they reach the head; compact if they dominate.
        if (dead > 32 && dead > waitingCount()) compact();
      };
      signal.addEventListener('abort', entry.onAbort, { once: true });
      queue.push(entry);
      queue.push(undefined);
      queue.push(undefined);
      queue.push(direct);
    }
    if (direct) return gate as unknown as Promise<Awaited<R>>;
    return gate.then(resume) as Promise<Awaited<R>>;
  };

  const call = <R>(
    fn: (...args: never[]) => R | PromiseLike<R>,
    args: unknown,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<R>> => {
    if (active < concurrency && queue.length === 0) {
      active++;
      if (!deferStart) return start(fn, args);
      return Promise.resolve().then(() => start(fn, args));
    }
    return enqueue(fn, args, signal);
  };

  // A plain function (not a rest parameter) so that the common 0- and
  // 1-argument calls allocate no argument array.
  const generator = function limited(fn: (...args: never[]) => unknown) {
    checkFunction('fn', fn);
    // biome-ignore lint/complexity/noArguments: avoids a rest-parameter array per call (measured: -48 B per queued call).
    const count = arguments.length;
    if (count === 1) return call(fn, NONE, undefined);
    // biome-ignore lint/complexity/noArguments: see above.
    if (count === 2) return call(fn, arguments[1], undefined);
    // biome-ignore lint/complexity/noArguments: see above.
    return call(fn, new Spread(Array.prototype.slice.call(arguments, 1)), undefined);
  } as unknown as LimitFunction;

  const run = <R>(fn: (context: RunContext) => R | PromiseLike<R>, options?: LimitRunOptions) => {
    checkFunction('fn', fn);
    const signal = checkSignal('signal', options?.signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return call(fn as never, { signal }, signal) as Promise<Awaited<R>>;
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
        results[i] = await call(apply as never, new Spread([step.value, i]), signal);
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

  const clearQueue = (): void => {
    const slots = [...queue];
    queue.clear();
    dead = 0;
    const error = rejectOnClear ? clearError() : undefined;
    for (let i = 0; i < slots.length; i += 4) {
      const head = slots[i] as Go | Abortable;
      let go: Go | null;
      if (typeof head === 'function') go = head;
      else {
        go = head.go;
        if (go === null) continue;
        head.go = null;
        head.signal.removeEventListener('abort', head.onAbort);
      }
      if (rejectOnClear) rejectWaiting(go, slots[i + 3] as boolean, error);
    }
    next();
  };

  const onIdle = (): Promise<void> => {
    if (active === 0 && waitingCount() === 0) return Promise.resolve();
    return new Promise((resolve) => idleResolvers.push(resolve));
  };

  Object.defineProperties(generator, {
    activeCount: { get: () => active },
    pendingCount: { get: waitingCount },
    concurrency: {
      get: () => concurrency,
      set(value: number) {
        concurrency = validateConcurrency(value);
        if (deferStart) queueMicrotask(next);
        else next();
      },
    },
    clearQueue: { value: clearQueue },
    run: { value: run },
    map: { value: map },
    onIdle: { value: onIdle },
  });
  return generator;
}
