import { show } from './validate.js';

/**
 * The admission protocol every limiter of sluice speaks: "may this work start
 * now, and if not, when?". Every limiter (in this process or shared across
 * processes) is an {@link Admission}, so `pipeline()`, `map()`,
 * `transform()`, `throttle()` and `TaskGroup` take any of them.
 */

/** Options of a waiting call. Each part reads the fields that apply to it. */
export interface AcquireOptions {
  /** Abort the wait: the call leaves the queue and rejects with `signal.reason`. */
  readonly signal?: AbortSignal | undefined;
  /** Most ms to wait for admission (never the run time of the work). @default Infinity */
  readonly timeout?: number;
  /** Capacity to take (a semaphore's weight, a rate limit's cost). @default 1 */
  readonly weight?: number;
  /** Higher is admitted first; FIFO among equals. @default 0 */
  readonly priority?: number;
}

/** Proof of admission. Released exactly once; releasing again is a no-op, never extra capacity. */
export interface Lease extends Disposable {
  /** Give the capacity back. Idempotent. */
  release(): void;
  /** Whether `release()` has been called. */
  readonly released: boolean;
  /** Where a lease can be lost while held (a shared lease that expired): aborts when it is. */
  readonly signal?: AbortSignal | undefined;
}

/** What `run` passes to the work. */
export interface RunContext {
  /**
   * Aborts when the caller's signal does, or when the lease is lost. Pass it
   * on (`fetch(url, { signal })`). Undefined when neither can happen.
   */
  readonly signal: AbortSignal | undefined;
}

/** The counters every part's `stats()` has (each part adds its own). */
export interface AdmissionStats {
  /** Calls admitted and not yet done (leases held) now. */
  readonly running: number;
  /** Calls waiting for admission now. */
  readonly waiting: number;
  /** Calls admitted since the part was made. */
  readonly admitted: number;
  /** Calls refused: the wait queue was full (`QueueFullError`), the part was closed, or it shed load. */
  readonly rejected: number;
  /** Waits that ended by their `timeout`. */
  readonly timedOut: number;
  /** Waits that ended because their signal aborted. */
  readonly aborted: number;
}

/**
 * The one lifecycle of every part that holds waiters, timers or resources.
 * `close()` is graceful (refuse new work, let admitted work finish),
 * `destroy()` is now (reject the waiting, abort or drop what it can), and
 * `await using` closes.
 */
export interface Lifecycle extends AsyncDisposable {
  /** Refuse new work; resolves once what was admitted is done. Idempotent. */
  close(): Promise<void>;
  /** Refuse new work and reject what waits (`ClosedError`, `cause` = `reason`) now; resolves once the part is down. */
  destroy(reason?: unknown): Promise<void>;
  /** Whether `close()` or `destroy()` was called. */
  readonly closed: boolean;
}

/** A limiter: `acquire` a lease, or `run` work under one. */
export interface Admission<
  L extends Lease = Lease,
  O extends { readonly signal?: AbortSignal | undefined } = AcquireOptions,
  C extends RunContext = RunContext,
> {
  /** Wait for admission. */
  acquire(options?: O): Promise<L>;
  /** Acquire, call `fn(context)`, release once it settles. Starts `fn` synchronously when admitted at once. */
  run<T>(fn: (context: C) => T | PromiseLike<T>, options?: O): Promise<T>;
  /** Stop admitting; resolves once what was admitted is back. Idempotent. */
  close(): Promise<void>;
  readonly closed: boolean;
  stats(): AdmissionStats;
}

/** Whether `value` speaks the admission protocol (checked at run time by the parts that take a limiter). */
export function isAdmission(value: unknown): value is Admission {
  // limit() is a function with the protocol's methods on it.
  if ((typeof value !== 'object' && typeof value !== 'function') || value === null) return false;
  const candidate = value as Record<string, unknown>;
  return (
    typeof candidate.acquire === 'function' &&
    typeof candidate.run === 'function' &&
    typeof candidate.close === 'function' &&
    typeof candidate.stats === 'function'
  );
}

/** `value` as an {@link Admission}, or a `TypeError` naming the option. */
export function checkAdmission(name: string, value: unknown): Admission {
  if (isAdmission(value)) return value;
  throw new TypeError(
    `Expected \`${name}\` to be a limiter (an Admission: acquire, run, close, stats), got ${show(value)}`,
  );
}

/**
 * Run work under `limiter`, handing it the signal to honour: the limiter's
 * (caller's signal joined with the lease's), or `signal` when the limiter
 * passes none. The one adapter behind map, transform, pipeline and TaskGroup.
 */
export function admitted<T>(
  limiter: Admission,
  work: (signal: AbortSignal | undefined, context: RunContext) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
): Promise<T> {
  return limiter.run((context) => work(context.signal ?? signal, context), { signal });
}

/**
 * The signal work should honour when both the caller's and the lease's can
 * abort: one that aborts with whichever aborts first. Listeners, not
 * `AbortSignal.any`, so `dispose()` leaves nothing on the caller's signal
 * (a long-lived shutdown signal would otherwise collect one per call).
 */
export function joinSignals(
  caller: AbortSignal,
  lease: AbortSignal,
): { readonly signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const forward = (event: Event) => controller.abort((event.target as AbortSignal).reason);
  if (caller.aborted) controller.abort(caller.reason);
  else if (lease.aborted) controller.abort(lease.reason);
  else {
    caller.addEventListener('abort', forward, { once: true });
    lease.addEventListener('abort', forward, { once: true });
  }
  return {
    signal: controller.signal,
    dispose() {
      caller.removeEventListener('abort', forward);
      lease.removeEventListener('abort', forward);
    },
  };
}

/**
 * The body of every part's `run`: given the admission (a lease when admitted
 * at once, else the promise of one), call `fn(lease)` in the same tick as the
 * grant, never on an aborted signal, and `finish` the lease once `fn` settles
 * (`release` by default). An immediate admission starts `fn` synchronously,
 * so work starts when the limiter admitted it, not a tick later.
 */
export function runLeased<L extends Lease, T>(
  admission: L | Promise<L>,
  fn: (lease: L) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
  finish: (lease: L, failed: boolean, error: unknown) => void = releaseLease,
): Promise<T> {
  if (admission instanceof Promise) return admission.then((lease) => startLeased(lease, fn, signal, finish));
  return startLeased(admission, fn, signal, finish);
}

function releaseLease(lease: Lease): void {
  lease.release();
}

function startLeased<L extends Lease, T>(
  lease: L,
  fn: (lease: L) => T | PromiseLike<T>,
  signal: AbortSignal | undefined,
  finish: (lease: L, failed: boolean, error: unknown) => void,
): Promise<T> {
  // An abort that raced the grant (after the grant, before this reaction)
  // must not start work: work that only listens for 'abort' would never hear it.
  if (signal?.aborted) {
    finish(lease, true, signal.reason);
    return Promise.reject(signal.reason);
  }
  let result: T | PromiseLike<T>;
  try {
    result = fn(lease);
  } catch (error) {
    finish(lease, true, error);
    return Promise.reject(error);
  }
  return Promise.resolve(result).then(
    (value) => {
      finish(lease, false, undefined);
      return value;
    },
    (error: unknown) => {
      finish(lease, true, error);
      throw error;
    },
  );
}
