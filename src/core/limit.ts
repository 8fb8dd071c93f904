import { Deque } from './Deque.js';
import { ClearedError, QueueFullError } from './errors.js';
import type { RunContext } from './Semaphore.js';
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
   * source does not become a million queued calls. Rejects with the first
   * error and stops pulling; calls already running finish in the background.
   */
  map<T, R>(
    iterable: Iterable<T> | AsyncIterable<T>,
    fn: (value: T, index: number) => R | PromiseLike<R>,
    options?: LimitRunOptions,
  ): Promise<Awaited<R>[]>;
  /** Resolves when nothing is running or waiting. */
  onIdle(): Promise<void>;
}

/** Sent through a task's gate instead of "go" to reject it. */
class Rejection {
  constructor(readonly error: unknown) {}
}

/** A waiting call. `go` is null once it was cancelled (abort) and left as a tombstone. */
class Task {
  hook: AbortHook | undefined = undefined;
  constructor(
    public go: ((value: Task | Rejection) => void) | null,
    readonly fn: (...args: never[]) => unknown,
    /** The argument list (`spread`), or the only argument, or NONE. */
    readonly args: unknown,
    readonly spread: boolean,
  ) {}
}

/** "Called with no arguments": distinct from a single `undefined` argument. */
const NONE: unique symbol = Symbol('none');

/** Call without allocating an argument array for the common 0- and 1-argument calls. */
function invoke(fn: (...args: never[]) => unknown, args: unknown, spread: boolean): unknown {
  if (spread) return fn(...(args as never[]));
  if (args === NONE) return fn();
  return (fn as (arg: unknown) => unknown)(args);
}

interface AbortHook {
  readonly signal: AbortSignal;
  readonly onAbort: () => void;
}

// `new Promise(capture)` hands the resolver out without allocating a closure
// (and a context) per queued call: this is most of what a waiting call costs.
let captured: ((value: Task | Rejection) => void) | undefined;
const capture = (resolve: (value: Task | Rejection) => void): void => {
  captured = resolve;
};

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
 * 4-5x cheaper per call, with a bounded backlog and cancellable waits.
 *
 * ```ts
 * const limited = limit(20);
 * const users = await limited.map(ids, (id) => fetchUser(id));
 * ```
 *
 * A call that finds a free slot and no one waiting starts synchronously;
 * otherwise it waits in FIFO order. Waiting calls resume in the caller's
 * AsyncLocalStorage context: the queue holds a promise created by the caller,
 * and the work runs in that promise's reaction.
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
  const queue = new Deque<Task>();
  let idleResolvers: (() => void)[] = [];

  const settled = (): void => {
    active--;
    next();
  };

  const start = <R>(
    fn: (...args: never[]) => R | PromiseLike<R>,
    args: unknown,
    spread: boolean,
  ): Promise<Awaited<R>> => {
    let promise: Promise<Awaited<R>>;
    try {
      promise = Promise.resolve(invoke(fn, args, spread)) as Promise<Awaited<R>>;
    } catch (error) {
      settled();
      return Promise.reject(error);
    }
    promise.then(settled, settled);
    return promise;
  };

  const next = (): void => {
    while (active < concurrency && queue.length > 0) {
      const task = queue.shift() as Task;
      const go = task.go;
      if (go === null) {
        dead--;
        continue;
      }
      if (task.hook !== undefined) task.hook.signal.removeEventListener('abort', task.hook.onAbort);
      active++;
      go(task);
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
  const resume = (value: Task | Rejection): Promise<unknown> => {
    if (value instanceof Rejection) throw value.error;
    return start(value.fn, value.args, value.spread);
  };

  const enqueue = <R>(
    fn: (...args: never[]) => R | PromiseLike<R>,
    args: unknown,
    spread: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<R>> => {
    const pending = queue.length - dead;
    if (pending >= maxPending) {
      return Promise.reject(
        new QueueFullError(
          `limit() queue is full (${pending}/${maxPending} pending, ${active}/${concurrency} running)`,
        ),
      );
    }
    const gate = new Promise<Task | Rejection>(capture);
    const task = new Task(captured as (value: Task | Rejection) => void, fn as never, args, spread);
    if (signal !== undefined) {
      const onAbort = () => {
        const go = task.go as (value: Task | Rejection) => void;
        task.go = null;
        dead++;
        go(new Rejection(signal.reason));
        // Tombstones are skipped when they reach the head; compact if they dominate.
        if (dead > 32 && dead > queue.length - dead) {
          queue.filterInPlace((t) => t.go !== null);
          dead = 0;
        }
      };
      task.hook = { signal, onAbort };
      signal.addEventListener('abort', onAbort, { once: true });
    }
    queue.push(task);
    return gate.then(resume) as Promise<Awaited<R>>;
  };

  const call = <R>(
    fn: (...args: never[]) => R | PromiseLike<R>,
    args: unknown,
    spread: boolean,
    signal: AbortSignal | undefined,
  ): Promise<Awaited<R>> => {
    if (active < concurrency && queue.length === 0) {
      active++;
      if (!deferStart) return start(fn, args, spread);
      return Promise.resolve().then(() => start(fn, args, spread));
    }
    return enqueue(fn, args, spread, signal);
  };

  // A plain function (not a rest parameter) so that the common 0- and
  // 1-argument calls allocate no argument array.
  const generator = function limited(fn: (...args: never[]) => unknown) {
    checkFunction('fn', fn);
    // biome-ignore lint/complexity/noArguments: avoids a rest-parameter array per call (measured: -48 B per queued call).
    const count = arguments.length;
    if (count === 1) return call(fn, NONE, false, undefined);
    // biome-ignore lint/complexity/noArguments: see above.
    if (count === 2) return call(fn, arguments[1], false, undefined);
    // biome-ignore lint/complexity/noArguments: see above.
    return call(fn, Array.prototype.slice.call(arguments, 1), true, undefined);
  } as unknown as LimitFunction;

  const run = <R>(fn: (context: RunContext) => R | PromiseLike<R>, options?: LimitRunOptions) => {
    checkFunction('fn', fn);
    const signal = checkSignal('signal', options?.signal);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return call(fn as never, { signal }, false, signal) as Promise<Awaited<R>>;
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
        results[i] = await call(apply as never, [step.value, i], true, signal);
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
    const tasks = [...queue];
    queue.clear();
    dead = 0;
    for (const task of tasks) {
      const go = task.go;
      if (go === null) continue;
      task.go = null;
      if (task.hook !== undefined) task.hook.signal.removeEventListener('abort', task.hook.onAbort);
      if (rejectOnClear) go(new Rejection(clearError()));
    }
    next();
  };

  const onIdle = (): Promise<void> => {
    if (active === 0 && queue.length - dead === 0) return Promise.resolve();
    return new Promise((resolve) => idleResolvers.push(resolve));
  };

  Object.defineProperties(generator, {
    activeCount: { get: () => active },
    pendingCount: { get: () => queue.length - dead },
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
