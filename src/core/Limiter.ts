/**
 * Long file: one class, the state behind `limit()` with its four entry forms
 * (call, run, acquire, map), each with a fast path and a traced one.
 */
import type { RunContext } from './admission.js';
import { systemClock } from './clock.js';
import { contextFree } from './context.js';
import { ClearedError, ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { Permit, type PermitOwner } from './Permit.js';
import { admissions, type Trace } from './trace.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, checkSignal, show } from './validate.js';
import { type Waiter, Waiters } from './Waiters.js';

/** More than one argument. */
export class Spread {
  constructor(readonly list: unknown[]) {}
}

/** "Called with no arguments": distinct from a single `undefined` argument. */
export const NONE: unique symbol = Symbol('none');

/** A waiter that is an `acquire()`, not a call: it is granted a lease. */
const LEASE: unique symbol = Symbol('lease');

type Fn = (...args: never[]) => unknown;

/** Call without allocating an argument array for the common 0- and 1-argument calls. */
function invoke(fn: Fn, args: unknown): unknown {
  if (args === NONE) return fn();
  if (args instanceof Spread) return fn(...(args.list as never[]));
  return (fn as (arg: unknown) => unknown)(args);
}

/** The options of one wait, validated. */
interface Wait {
  readonly signal: AbortSignal | undefined;
  readonly timeout: number;
  readonly priority: number;
}

function readWait(options: { signal?: unknown; timeout?: unknown; priority?: unknown } | undefined): Wait {
  const signal = checkSignal('signal', options?.signal);
  const timeout = options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
  const priority = options?.priority === undefined ? 0 : checkFiniteNumber('priority', options.priority);
  return { signal, timeout, priority };
}

/**
 * The state behind `limit()`: `running` calls of at most `concurrency`, the
 * rest waiting in the one waiter engine. A call that finds a free slot and no
 * one waiting starts synchronously. A waiting call runs in its caller's
 * AsyncLocalStorage context: it waits on a gate promise created by the caller
 * and runs in that promise's reaction (skipped when no AsyncLocalStorage can
 * observe the difference: see context.ts).
 */
export class Limiter implements PermitOwner {
  #concurrency: number;
  readonly #maxWaiting: number;
  #running = 0;
  #admitted = 0;
  #rejected = 0;
  #closed = false;
  #idle: (() => void)[] = [];
  /** A waiter's `data` is the function (or LEASE), `extra` its arguments (NONE, one, or a Spread). */
  readonly #waiters: Waiters;

  /** `clear()` forgets the waiting calls (their promises never settle) instead of rejecting them. */
  readonly #dropOnClear: boolean;

  /** The part's voice on the admission channel. */
  readonly #trace: Trace | undefined;

  constructor(concurrency: number, maxWaiting: number, dropOnClear = false, trace?: Trace) {
    this.#dropOnClear = dropOnClear;
    this.#concurrency = concurrency;
    this.#maxWaiting = maxWaiting;
    this.#trace = trace;
    this.#waiters = new Waiters(
      {
        left: () => this.#checkIdle(),
        timeoutError: (_waiter, ms) => this.#timeoutError(ms),
      },
      systemClock,
      undefined,
      trace,
    );
  }

  /** `fn`, told on the admission channel when someone listens (its start and its end). */
  #traced<F extends Fn>(fn: F): F {
    return admissions.hasSubscribers && this.#trace !== undefined ? this.#trace.wrap(fn) : fn;
  }

  /** A permit, told on the admission channel (after a wait when `waiter` is given). */
  #permit(waiter?: Waiter): Permit {
    const permit = new Permit(this, 1);
    if (admissions.hasSubscribers) this.#trace?.admitted(permit, waiter);
    return permit;
  }

  /** A refusal at once, told on the admission channel. */
  #refusal(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace?.rejected(error);
    return Promise.reject(error);
  }

  get running(): number {
    return this.#running;
  }
  get waiting(): number {
    return this.#waiters.size;
  }
  get closed(): boolean {
    return this.#closed;
  }
  get concurrency(): number {
    return this.#concurrency;
  }
  set concurrency(value: number) {
    this.#concurrency = checkCount('concurrency', value, 1, true);
    this.#next();
  }

  releasePermit(_weight: number, permit: Permit): void {
    if (admissions.hasSubscribers) this.#trace?.released(permit);
    this.#settled();
  }

  /** A slot is free and nobody waits: a call may start now (never ahead of a waiter). */
  #freeNow(): boolean {
    return this.#running < this.#concurrency && this.#waiters.size === 0 && !this.#closed;
  }

  #take(): void {
    this.#running++;
    this.#admitted++;
  }

  /** One shared function per limiter (not a closure per call): a slot comes back. */
  readonly #settled = (): void => {
    this.#running--;
    this.#next();
  };

  // For a call that waited: release the slot in the same reaction that
  // settles the caller's promise (one promise fewer per call than `#start`).
  readonly #passValue = (value: unknown): unknown => {
    this.#settled();
    return value;
  };
  readonly #passError = (error: unknown): never => {
    this.#settled();
    throw error;
  };

  #start(fn: Fn, args: unknown): Promise<unknown> {
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(invoke(fn, args));
    } catch (error) {
      this.#settled();
      return Promise.reject(error);
    }
    promise.then(this.#settled, this.#settled);
    return promise;
  }

  /** Start a `direct` call: its result settles the caller's promise through `resolve`. */
  #startDirect(resolve: (value: unknown) => void, fn: Fn, args: unknown): void {
    let result: unknown;
    try {
      result = invoke(fn, args);
    } catch (error) {
      this.#settled();
      resolve(Promise.reject(error));
      return;
    }
    // Settle the caller with the value itself, not with a promise to adopt:
    // adoption costs a microtask and four objects per call. The two closures
    // live only while the call runs.
    Promise.resolve(result).then(
      (value) => {
        this.#settled();
        resolve(value);
      },
      (error: unknown) => {
        this.#settled();
        resolve(Promise.reject(error));
      },
    );
  }

  #next(): void {
    while (this.#running < this.#concurrency) {
      const head: Waiter | undefined = this.#waiters.takeFirst();
      if (head === undefined) break;
      this.#take();
      const fn = head.data as Fn | typeof LEASE;
      if (fn === LEASE) head.resolve(this.#permit(head));
      else if (head.direct) this.#startDirect(head.resolve, fn, head.extra);
      else head.resolve(head); // the gate's reaction (#resume) reads the call off the waiter
    }
    this.#checkIdle();
  }

  /**
   * Runs in the reaction of the caller's own promise, so in the caller's
   * AsyncLocalStorage context. One shared function: no closure per call.
   */
  readonly #resume = (waiter: Waiter): unknown => {
    let result: unknown;
    try {
      result = invoke(waiter.data as Fn, waiter.extra);
    } catch (error) {
      this.#settled();
      throw error;
    }
    if (result instanceof Promise) return result.then(this.#passValue, this.#passError);
    if (result !== null && typeof (result as PromiseLike<unknown>)?.then === 'function') {
      return Promise.resolve(result).then(this.#passValue, this.#passError);
    }
    this.#settled();
    return result;
  };

  #describe(): string {
    return `${this.#running}/${this.#concurrency} running, ${this.#waiters.size} waiting`;
  }

  #timeoutError(ms: number): TimeoutError {
    return new TimeoutError(`limit() wait timed out after ${ms} ms (${this.#describe()})`);
  }

  #refuse(): Promise<never> | undefined {
    if (this.#closed) {
      this.#rejected++;
      return this.#refusal(new ClosedError('limit() is closed'));
    }
    const waiting = this.#waiters.size;
    if (waiting >= this.#maxWaiting) {
      this.#rejected++;
      return this.#refusal(
        new QueueFullError(
          `limit() queue is full (${waiting}/${this.#maxWaiting} waiting, ${this.#running}/${this.#concurrency} running)`,
        ),
      );
    }
    return undefined;
  }

  #enqueue(fn: Fn | typeof LEASE, args: unknown, wait: Wait | undefined): Promise<unknown> {
    const refused = this.#refuse();
    if (refused !== undefined) return refused;
    // When there is no context to carry (see context.ts), the caller's own
    // promise is resolved directly: one promise and ~100 retained bytes fewer per call.
    const direct = fn !== LEASE && contextFree();
    const gate =
      wait === undefined
        ? this.#waiters.wait<Waiter>(1, 0, fn, args, undefined, Number.POSITIVE_INFINITY, direct)
        : this.#waiters.wait<Waiter>(1, wait.priority, fn, args, wait.signal, wait.timeout, direct);
    if (fn === LEASE || direct) return gate;
    return gate.then(this.#resume);
  }

  /** The call form: `limited(fn, ...args)`. */
  call(fn: Fn, args: unknown): Promise<unknown> {
    const call = this.#traced(fn);
    if (this.#freeNow()) {
      this.#take();
      return this.#start(call, args);
    }
    return this.#enqueue(call, args, undefined);
  }

  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: Wait | object): Promise<T> {
    checkFunction('fn', fn);
    const wait = readWait(options as Wait | undefined);
    const { signal } = wait;
    if (signal?.aborted) return this.#waiters.refuseAborted(signal);
    const context: RunContext = { signal };
    const work = this.#traced(fn as Fn) as unknown as (context: RunContext) => T | PromiseLike<T>;
    if (this.#freeNow()) {
      this.#take();
      return this.#start(work as Fn, context) as Promise<T>;
    }
    if (wait.timeout === 0 && !this.#closed) return this.#refusal(this.#timeoutError(0));
    // The work must not start on a signal that aborted as the slot came (after the grant, before the reaction).
    const guarded =
      signal === undefined ? work : (ctx: RunContext) => (signal.aborted ? Promise.reject(signal.reason) : work(ctx));
    return this.#enqueue(guarded as Fn, context, wait) as Promise<T>;
  }

  acquire(options?: object): Promise<Permit> {
    const wait = readWait(options as Wait | undefined);
    if (wait.signal?.aborted) return this.#waiters.refuseAborted(wait.signal);
    if (this.#freeNow()) {
      this.#take();
      return Promise.resolve(this.#permit());
    }
    if (wait.timeout === 0 && !this.#closed) return this.#refusal(this.#timeoutError(0));
    return this.#enqueue(LEASE, undefined, wait) as Promise<Permit>;
  }

  tryAcquire(): Permit | undefined {
    if (!this.#freeNow()) return undefined;
    this.#take();
    return this.#permit();
  }

  /** A call with a signal for its wait: start now if a slot is free, else wait (abortable). */
  #callWithSignal(fn: Fn, args: unknown, signal: AbortSignal): Promise<unknown> {
    if (signal.aborted) return this.#waiters.refuseAborted(signal);
    const call = this.#traced(fn);
    if (this.#freeNow()) {
      this.#take();
      return this.#start(call, args);
    }
    return this.#enqueue(call, args, { signal, timeout: Number.POSITIVE_INFINITY, priority: 0 });
  }

  async map<T, R>(
    iterable: Iterable<T> | AsyncIterable<T>,
    fn: (value: T, index: number) => R | PromiseLike<R>,
    options?: { readonly signal?: AbortSignal | undefined },
  ): Promise<Awaited<R>[]> {
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
    const apply = ((value: T, i: number) => fn(value, i)) as Fn;
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
        results[i] = (await (signal === undefined
          ? this.call(apply, args)
          : this.#callWithSignal(apply, args, signal))) as Awaited<R>;
      }
    };
    // One lane per slot: each keeps at most one call of this map in the limiter.
    const lanes = Number.isFinite(this.#concurrency) ? this.#concurrency : 1024;
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
  }

  /** Reject every waiting call with `reason` (default `ClearedError`); returns how many. */
  clear(reason: unknown = new ClearedError('The call was removed by clear()')): number {
    const cleared = this.#waiters.size;
    if (this.#dropOnClear) this.#waiters.takeAll();
    else this.#waiters.failAll(reason);
    this.#next();
    return cleared;
  }

  #checkIdle(): void {
    if (this.#running === 0 && this.#waiters.size === 0 && this.#idle.length > 0) {
      const resolvers = this.#idle;
      this.#idle = [];
      for (const resolve of resolvers) resolve();
    }
  }

  onIdle(): Promise<void> {
    if (this.#running === 0 && this.#waiters.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.push(resolve));
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.onIdle();
  }

  destroy(reason?: unknown): Promise<void> {
    this.#closed = true;
    const waiting = this.#waiters.size;
    this.#rejected += this.#waiters.failAll(
      new ClosedError(`limit() was destroyed (${waiting} waiting rejected)`, { cause: reason }),
    );
    this.#checkIdle();
    return this.onIdle();
  }

  stats() {
    return {
      running: this.#running,
      waiting: this.#waiters.size,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#waiters.counters.timedOut,
      aborted: this.#waiters.counters.aborted,
      concurrency: this.#concurrency,
    };
  }
}
