import { type Admission, type AdmissionStats, type Lease, runLeased } from '../core/admission.js';
import { type Backoff, exponentialBackoff } from '../core/backoff.js';
import { type Clock, systemClock } from '../core/clock.js';
import { Emitter } from '../core/Emitter.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, checkSignal, show } from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';

/** Options of the {@link Pool} constructor: the factory, then sizing, timeouts and lifetimes. */
export interface PoolOptions<T> {
  /** Make a resource. The signal aborts when `createTimeout` passes or the pool is destroyed. */
  readonly create: (signal: AbortSignal) => T | PromiseLike<T>;
  /** Dispose of a resource. @default nothing */
  readonly destroy?: (resource: T) => void | PromiseLike<void>;
  /** Whether an idle resource still works (run on borrow after `validateAfterIdle`, and by keep-alive). */
  readonly validate?: (resource: T, signal: AbortSignal) => boolean | PromiseLike<boolean>;
  /** Prepare a returned resource for its next borrower; a throw destroys it. */
  readonly reset?: (resource: T) => void | PromiseLike<void>;
  /** Resources kept even when idle (created at once, and re-created after losses). An integer >= 0. @default 0 */
  readonly min?: number;
  /** Most resources at once. An integer >= 1, >= min. @default 10 */
  readonly max?: number;
  /** Most callers waiting; one more rejects with `QueueFullError`. An integer >= 0 or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /** Most ms a caller waits for a resource; then `TimeoutError`. @default 30000 */
  readonly acquireTimeout?: number;
  /** Most ms one `create` may take; a resource that arrives later is destroyed. @default 30000 */
  readonly createTimeout?: number;
  /** Most ms one `destroy` may take before the pool stops waiting for it. @default 5000 */
  readonly destroyTimeout?: number;
  /** Most ms one `validate` may take; longer counts as invalid. @default 5000 */
  readonly validateTimeout?: number;
  /** Creates in flight at once. Low values keep a burst from opening a stampede of connections. @default 1 */
  readonly maxCreating?: number;
  /** Delay between failed creates (per consecutive failure). @default exponentialBackoff({ initial: 100, max: 10000, jitter: 'equal' }) */
  readonly createBackoff?: Backoff;
  /** An idle resource above `min` is destroyed after this many ms. @default 60000 */
  readonly idleTimeout?: number;
  /** A resource is retired after this many ms of life (minus jitter), when idle or on return. @default 1800000 */
  readonly maxLifetime?: number;
  /** Each lifetime is shortened by a random fraction up to this, so resources do not all expire together. A number in [0, 1). @default 0.025 */
  readonly lifetimeJitter?: number;
  /** A resource is retired after this many borrows. @default Infinity */
  readonly maxUses?: number;
  /** Validate idle resources every this many ms (needs `validate`). @default Infinity (off) */
  readonly keepAliveInterval?: number;
  /** On borrow, validate only resources idle longer than this (needs `validate`). @default 500 */
  readonly validateAfterIdle?: number;
  /** Report a lease held longer than this (event `leak`, with the borrower's stack). @default Infinity (off) */
  readonly leakDetectionThreshold?: number;
  /** @default systemClock */
  readonly clock?: Clock;
  /** For jitter. @default Math.random */
  readonly random?: () => number;
}

/** Options of {@link Pool.acquire}. */
export interface PoolAcquireOptions {
  readonly signal?: AbortSignal | undefined;
  /** Overrides `acquireTimeout` for this call. */
  readonly timeout?: number;
  /** Higher is served first; FIFO among equals. @default 0 */
  readonly priority?: number;
}

/** `running` is the resources lent out now; `admitted` counts leases given. */
export interface PoolStats extends AdmissionStats {
  /** Resources alive: idle + lent + being validated or reset. */
  readonly size: number;
  readonly idle: number;
  /** Creates in flight. */
  readonly creating: number;
  readonly created: number;
  readonly destroyed: number;
  readonly createFailures: number;
  readonly leaks: number;
}

export interface PoolEvents<T> extends Record<string, unknown> {
  create: { readonly resource: T };
  destroy: { readonly resource: T; readonly reason: DestroyReason };
  createError: { readonly error: unknown };
  destroyError: { readonly resource: T; readonly error: unknown };
  /** A lease was held longer than `leakDetectionThreshold`; `stack` is where it was acquired. */
  leak: { readonly resource: T; readonly heldFor: number; readonly stack: string };
}

export type DestroyReason =
  | 'error'
  | 'invalid'
  | 'idle'
  | 'lifetime'
  | 'uses'
  | 'reset-failed'
  | 'late-create'
  | 'closed';

/** A borrowed resource. Give it back with `release()` (or `using`); `release(error)` destroys it. */
export class PoolLease<T> implements Lease {
  readonly resource: T;
  #entry: Entry<T> | undefined;
  readonly #pool: { giveBack(entry: Entry<T>, failed: boolean): void };

  /** @internal */
  constructor(pool: { giveBack(entry: Entry<T>, failed: boolean): void }, entry: Entry<T>) {
    this.#pool = pool;
    this.#entry = entry;
    this.resource = entry.resource;
  }

  get released(): boolean {
    return this.#entry === undefined;
  }

  /** Return the resource; with an error (the resource is broken), destroy it instead. Idempotent. */
  release(error?: unknown): void {
    const entry = this.#entry;
    if (entry === undefined) return;
    this.#entry = undefined;
    this.#pool.giveBack(entry, error !== undefined);
  }

  [Symbol.dispose](): void {
    this.release();
  }
}

function borrowerStack(): string {
  return new Error('Pool lease acquired here').stack ?? '';
}

class Entry<T> {
  lastUsedAt: number;
  lastCheckedAt: number;
  uses = 0;
  borrowedAt = 0;
  leakTimer: unknown = undefined;
  stack: string | undefined = undefined;
  /** The lease that holds it, when borrowed (a forced close revokes it). */
  lease: PoolLease<T> | undefined = undefined;
  constructor(
    readonly resource: T,
    readonly createdAt: number,
    readonly expiresAt: number,
  ) {
    this.lastUsedAt = createdAt;
    this.lastCheckedAt = createdAt;
  }
}

/** What `Pool.run` passes to the work. */
export interface PoolRunContext<T> {
  readonly resource: T;
  readonly signal: AbortSignal | undefined;
}

/**
 * A resource pool that does not leak, stampede or hang.
 *
 * - Demand-driven creation: a create starts only while callers wait that no
 *   idle resource, create in flight or validation will serve, at most
 *   `maxCreating` at once, re-checked before each one; `min` is kept filled.
 * - Create failures back off (`createBackoff`) and reach the waiting callers:
 *   each failure rejects the oldest waiter, and all of them when the pool has
 *   no resource that could come back.
 * - Every step has a deadline: acquire, create (a late resource is destroyed),
 *   validate (late = invalid), destroy (the pool stops waiting), close.
 * - Idle resources are lent LIFO (hot ones stay hot) and retired by idle
 *   timeout (down to `min`), lifetime (with jitter) and uses; waiters are
 *   served FIFO within a priority.
 */
export class Pool<T>
  extends Emitter<PoolEvents<T>>
  implements Admission<PoolLease<T>, PoolAcquireOptions, PoolRunContext<T>>, AsyncDisposable
{
  readonly #create: (signal: AbortSignal) => T | PromiseLike<T>;
  readonly #destroyFn: ((resource: T) => void | PromiseLike<void>) | undefined;
  readonly #validate: ((resource: T, signal: AbortSignal) => boolean | PromiseLike<boolean>) | undefined;
  readonly #reset: ((resource: T) => void | PromiseLike<void>) | undefined;
  readonly #min: number;
  readonly #max: number;
  readonly #maxWaiting: number;
  readonly #acquireTimeout: number;
  readonly #createTimeout: number;
  readonly #destroyTimeout: number;
  readonly #validateTimeout: number;
  readonly #maxCreating: number;
  readonly #createBackoff: Backoff;
  readonly #idleTimeout: number;
  readonly #maxLifetime: number;
  readonly #lifetimeJitter: number;
  readonly #maxUses: number;
  readonly #keepAliveInterval: number;
  readonly #validateAfterIdle: number;
  readonly #leakThreshold: number;
  readonly #clock: Clock;
  readonly #random: () => number;

  /** Idle resources; the top (end) is the most recently returned. */
  readonly #idle: Entry<T>[] = [];
  readonly #borrowed = new Set<Entry<T>>();
  /** Callers waiting; a waiter's `data` is its borrower's stack (leak detection only). */
  readonly #waiters: Waiters;
  /** Alive: idle + borrowed + in validation or reset. */
  #size = 0;
  #creating = 0;
  /** Idle resources taken out for validation that will serve a waiter if valid. */
  #validating = 0;
  #failedCreates = 0;
  #lastCreateDelay = 0;
  #backoffTimer: unknown = undefined;
  #housekeepingTimer: unknown = undefined;
  #housekeepingAt = Number.POSITIVE_INFINITY;
  readonly #createControllers = new Set<AbortController>();
  readonly #destroying = new Set<Promise<void>>();
  #closing: Promise<void> | undefined = undefined;
  /** Set before anything else happens in close(), so nothing it triggers creates anew. */
  #shuttingDown = false;
  #drained: (() => void) | undefined = undefined;
  #created = 0;
  #destroyed = 0;
  #createFailures = 0;
  #leaks = 0;
  /** After close(): destroy what is still out, now (set while close waits). */
  #revokeNow: (() => void) | undefined = undefined;
  #closeReason: unknown = undefined;
  #admitted = 0;
  #rejected = 0;

  constructor(options: PoolOptions<T>) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with \`create\`, got ${show(options)}`);
    }
    checkFunction('create', options.create);
    this.#create = options.create;
    for (const name of ['destroy', 'validate', 'reset'] as const) {
      if (options[name] !== undefined) checkFunction(name, options[name]);
    }
    this.#destroyFn = options.destroy;
    this.#validate = options.validate;
    this.#reset = options.reset;
    this.#min = checkCount('min', options.min ?? 0, 0, false);
    this.#max = checkCount('max', options.max ?? 10, 1, false);
    if (this.#min > this.#max) {
      throw new RangeError(`Expected \`min\` to be at most \`max\` (${this.#max}), got ${show(this.#min)}`);
    }
    this.#maxWaiting = checkCount('maxWaiting', options.maxWaiting ?? Number.POSITIVE_INFINITY, 0, true);
    this.#acquireTimeout = checkMs('acquireTimeout', options.acquireTimeout ?? 30_000);
    this.#createTimeout = checkMs('createTimeout', options.createTimeout ?? 30_000);
    this.#destroyTimeout = checkMs('destroyTimeout', options.destroyTimeout ?? 5000);
    this.#validateTimeout = checkMs('validateTimeout', options.validateTimeout ?? 5000);
    this.#maxCreating = checkCount('maxCreating', options.maxCreating ?? 1, 1, false);
    if (options.createBackoff !== undefined) checkFunction('createBackoff', options.createBackoff);
    this.#createBackoff = options.createBackoff ?? exponentialBackoff({ initial: 100, max: 10_000, jitter: 'equal' });
    this.#idleTimeout = checkMs('idleTimeout', options.idleTimeout ?? 60_000);
    this.#maxLifetime = checkMs('maxLifetime', options.maxLifetime ?? 1_800_000);
    const jitter = checkFiniteNumber('lifetimeJitter', options.lifetimeJitter ?? 0.025);
    if (jitter < 0 || jitter >= 1) {
      throw new RangeError(`Expected \`lifetimeJitter\` to be a number in [0, 1), got ${show(jitter)}`);
    }
    this.#lifetimeJitter = jitter;
    this.#maxUses = checkCount('maxUses', options.maxUses ?? Number.POSITIVE_INFINITY, 1, true);
    this.#keepAliveInterval = checkMs('keepAliveInterval', options.keepAliveInterval ?? Number.POSITIVE_INFINITY);
    this.#validateAfterIdle = checkMs('validateAfterIdle', options.validateAfterIdle ?? 500);
    this.#leakThreshold = checkMs('leakDetectionThreshold', options.leakDetectionThreshold ?? Number.POSITIVE_INFINITY);
    this.#clock = options.clock ?? systemClock;
    this.#waiters = new Waiters(
      {
        left: () => {},
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(`Pool acquire timed out after ${timeout} ms (${this.#describe()})`),
      },
      this.#clock,
    );
    if (options.random !== undefined) checkFunction('random', options.random);
    this.#random = options.random ?? Math.random;
    this.#fill();
  }

  get closed(): boolean {
    return this.#shuttingDown;
  }

  stats(): PoolStats {
    return {
      running: this.#borrowed.size,
      waiting: this.#waiters.size,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#waiters.counters.timedOut,
      aborted: this.#waiters.counters.aborted,
      size: this.#size,
      idle: this.#idle.length,
      creating: this.#creating,
      created: this.#created,
      destroyed: this.#destroyed,
      createFailures: this.#createFailures,
      leaks: this.#leaks,
    };
  }

  /** Borrow a resource: an idle one (most recently used first), or wait. */
  acquire(options?: PoolAcquireOptions): Promise<PoolLease<T>> {
    const admission = this.#admit(options);
    return admission instanceof PoolLease ? Promise.resolve(admission) : admission;
  }

  /** A lease now, or the promise of one (validation errors throw). */
  #admit(options: PoolAcquireOptions | undefined): PoolLease<T> | Promise<PoolLease<T>> {
    let timeout = this.#acquireTimeout;
    let priority = 0;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      if (options.priority !== undefined) priority = checkFiniteNumber('priority', options.priority);
      signal = checkSignal('signal', options.signal);
    }
    if (this.#shuttingDown) {
      this.#rejected++;
      return Promise.reject(new ClosedError('Pool is closed'));
    }
    if (signal?.aborted) return this.#waiters.refuseAborted(signal);
    // Fast path: nobody waits and the top idle resource needs no check.
    const stack = this.#leakThreshold === Number.POSITIVE_INFINITY ? undefined : borrowerStack();
    if (this.#waiters.size === 0) {
      const lease = this.#tryLend(stack);
      if (lease !== undefined) return lease;
    }
    if (this.#waiters.size >= this.#maxWaiting) {
      this.#rejected++;
      return Promise.reject(
        new QueueFullError(
          `Pool queue is full (${this.#waiters.size}/${this.#maxWaiting} waiting; ${this.#describe()})`,
        ),
      );
    }
    const promise = this.#waiters.wait<PoolLease<T>>(1, priority, stack, undefined, signal, timeout);
    this.#dispatch();
    return promise;
  }

  /** An idle resource now (one that needs no validation), or `undefined`. Never jumps the queue. */
  tryAcquire(): PoolLease<T> | undefined {
    if (this.#shuttingDown || this.#waiters.size > 0) return undefined;
    return this.#tryLend(this.#leakThreshold === Number.POSITIVE_INFINITY ? undefined : borrowerStack());
  }

  /** Borrow, call `fn(resource, { signal })`, give it back (even if `fn` throws). */
  async use<R>(
    fn: (resource: T, context: { signal: AbortSignal | undefined }) => R | PromiseLike<R>,
    options?: PoolAcquireOptions,
  ): Promise<R> {
    checkFunction('fn', fn);
    const lease = await this.acquire(options);
    try {
      return await fn(lease.resource, { signal: options?.signal });
    } finally {
      lease.release();
    }
  }

  /**
   * The admission protocol's `run`: `fn({ resource, signal })` with a borrowed
   * resource, given back once `fn` settles. An idle resource starts `fn`
   * synchronously. Never starts on an aborted signal.
   */
  run<R>(fn: (context: PoolRunContext<T>) => R | PromiseLike<R>, options?: PoolAcquireOptions): Promise<R> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    return runLeased(this.#admit(options), (lease) => fn({ resource: lease.resource, signal }), signal);
  }

  /**
   * Stop lending: waiters reject with `ClosedError`, idle resources are
   * destroyed, borrowed ones are destroyed as they come back. Resolves when
   * everything is destroyed. Idempotent. For a deadline, call `destroy()`
   * when it passes (`Shutdown` does).
   */
  close(): Promise<void> {
    // biome-ignore lint/complexity/noArguments: the 0.1 signature took options; say where they went.
    if (arguments.length > 0) {
      throw new TypeError(
        'Pool.close() takes no options (close({ timeout }) was removed): call destroy() when your deadline passes, or register the pool with Shutdown({ gracePeriod })',
      );
    }
    return this.#close(Number.POSITIVE_INFINITY);
  }

  /**
   * Now: waiters reject with `ClosedError` (`cause` = `reason`), resources
   * still borrowed are destroyed (their leases are revoked), creates in flight
   * are aborted. Resolves when everything is destroyed; after `close()`, cuts
   * its wait short.
   */
  destroy(reason?: unknown): Promise<void> {
    this.#closeReason ??= reason;
    if (this.#closing !== undefined) {
      this.#revokeNow?.();
      return this.#closing;
    }
    return this.#close(0);
  }

  #close(timeout: number): Promise<void> {
    if (this.#closing === undefined) {
      this.#shuttingDown = true;
      this.#closing = this.#shutdown(timeout);
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(timeout: number): Promise<void> {
    this.#waiters.failAll(new ClosedError('Pool is closed', { cause: this.#closeReason }));
    this.#clock.clearTimeout(this.#backoffTimer);
    this.#clock.clearTimeout(this.#housekeepingTimer);
    this.#housekeepingTimer = undefined;
    for (const entry of this.#idle.splice(0)) this.#destroy(entry, 'closed');
    const force = () => {
      this.#revokeNow = undefined;
      const error = new ClosedError('Pool was destroyed', { cause: this.#closeReason });
      for (const controller of this.#createControllers) controller.abort(error);
      for (const entry of [...this.#borrowed]) {
        this.#borrowed.delete(entry);
        this.#clearLeak(entry);
        this.#destroy(entry, 'closed');
      }
      this.#checkDrained(true);
    };
    if (timeout === 0) force();
    else this.#revokeNow = force;
    if (this.#borrowed.size > 0 || this.#creating > 0 || this.#validating > 0) {
      // Creates were aborted (destroy) and validations are bounded by validateTimeout.
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#revokeNow = undefined;
    while (this.#destroying.size > 0) await Promise.all([...this.#destroying]);
  }

  #checkDrained(force = false): void {
    if (this.#drained === undefined) return;
    if (force || (this.#borrowed.size === 0 && this.#creating === 0 && this.#validating === 0)) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }

  /** Lend the top idle resource if it needs no check; drop expired ones on the way. */
  #tryLend(stack: string | undefined): PoolLease<T> | undefined {
    const now = this.#clock.now();
    while (this.#idle.length > 0) {
      const entry = this.#idle[this.#idle.length - 1] as Entry<T>;
      if (now >= entry.expiresAt) {
        this.#idle.pop();
        this.#destroy(entry, 'lifetime');
        this.#fill();
        continue;
      }
      if (this.#needsValidation(entry, now)) return undefined;
      this.#idle.pop();
      return this.#lend(entry, now, stack);
    }
    return undefined;
  }

  #needsValidation(entry: Entry<T>, now: number): boolean {
    return this.#validate !== undefined && now - entry.lastUsedAt > this.#validateAfterIdle;
  }

  /** Match idle resources with waiters; start creates for the demand left. */
  #dispatch(): void {
    if (this.#shuttingDown) return;
    if (this.#idle.length === 0) {
      this.#fill();
      return;
    }
    const now = this.#clock.now();
    while (this.#waiters.size > this.#validating && this.#idle.length > 0) {
      const entry = this.#idle.pop() as Entry<T>;
      if (now >= entry.expiresAt) {
        this.#destroy(entry, 'lifetime');
        continue;
      }
      if (this.#needsValidation(entry, now)) {
        this.#validating++;
        void this.#check(entry).then((ok) => {
          this.#validating--;
          if (ok) this.#returnEntry(entry, false);
          else this.#destroy(entry, 'invalid');
          this.#checkDrained();
          this.#dispatch();
        });
        continue;
      }
      const waiter = this.#waiters.first() as Waiter;
      this.#waiters.grant(waiter, this.#lend(entry, now, waiter.data as string | undefined));
    }
    this.#fill();
  }

  /** Start creates: for `min`, and for waiters no idle, validating or creating resource will serve. */
  #fill(): void {
    if (this.#shuttingDown || this.#backoffTimer !== undefined) return;
    while (
      this.#creating < this.#maxCreating &&
      this.#size + this.#creating < this.#max &&
      (this.#size + this.#creating < this.#min ||
        this.#waiters.size > this.#creating + this.#validating + this.#idle.length)
    ) {
      this.#startCreate();
    }
  }

  #startCreate(): void {
    this.#creating++;
    const controller = new AbortController();
    this.#createControllers.add(controller);
    let timedOut = false;
    const timer =
      this.#createTimeout === Number.POSITIVE_INFINITY
        ? undefined
        : this.#clock.setTimeout(() => {
            timedOut = true;
            controller.abort(new TimeoutError(`Pool create timed out after ${this.#createTimeout} ms`));
          }, this.#createTimeout);
    const finish = () => {
      this.#clock.clearTimeout(timer);
      this.#createControllers.delete(controller);
      this.#creating--;
    };
    let creation: Promise<T>;
    try {
      creation = Promise.resolve(this.#create(controller.signal));
    } catch (error) {
      creation = Promise.reject(error);
    }
    // A timeout (or a forced close) settles the create for the pool at once;
    // a resource that still arrives afterwards is destroyed, not leaked.
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    creation.then(
      (resource) => {
        if (timedOut || controller.signal.aborted) {
          this.#created++; // made by the factory, never lent: counted, then destroyed
          this.#destroyResource(resource, 'late-create');
        }
      },
      () => {},
    );
    Promise.race([creation, aborted]).then(
      (resource) => {
        finish();
        this.#failedCreates = 0;
        this.#lastCreateDelay = 0;
        const now = this.#clock.now();
        const lifetime = this.#maxLifetime * (1 - this.#lifetimeJitter * this.#random());
        const entry = new Entry(resource, now, now + lifetime);
        this.#size++;
        this.#created++;
        if (this.listens('create')) this.notify('create', { resource });
        if (this.#shuttingDown) {
          this.#destroy(entry, 'closed');
          this.#checkDrained();
          return;
        }
        this.#returnEntry(entry, true);
      },
      (error: unknown) => {
        finish();
        if (this.#shuttingDown) {
          this.#checkDrained();
          return;
        }
        this.#createFailures++;
        this.#failedCreates++;
        if (this.listens('createError')) this.notify('createError', { error });
        // The failure reaches the callers: the oldest waiter, or every waiter
        // when no resource exists or is on its way that could serve them.
        const hopeless = this.#size === 0 && this.#creating === 0;
        const failure = error instanceof Error ? error : new Error(String(error));
        if (hopeless) {
          this.#waiters.failAll(failure);
        } else if (this.#waiters.size > this.#creating + this.#validating) {
          const oldest = this.#waiters.first();
          if (oldest !== undefined) this.#waiters.fail(oldest, failure);
        }
        const delay = this.#createBackoff({
          attempt: this.#failedCreates,
          previousDelay: this.#lastCreateDelay,
          random: this.#random,
        });
        this.#lastCreateDelay = delay;
        this.#backoffTimer = this.#clock.setTimeout(
          () => {
            this.#backoffTimer = undefined;
            this.#dispatch();
          },
          Math.max(0, delay),
          this.#waiters.size > 0,
        );
      },
    );
  }

  /** A resource is free (new, returned, validated): to the oldest waiter, or idle. */
  #returnEntry(entry: Entry<T>, fresh: boolean): void {
    const now = this.#clock.now();
    if (!fresh) entry.lastUsedAt = now;
    const waiter = this.#waiters.first();
    if (waiter !== undefined) {
      this.#waiters.grant(waiter, this.#lend(entry, now, waiter.data as string | undefined));
    } else {
      this.#idle.push(entry);
      this.#schedule(entry);
    }
    this.#dispatch();
  }

  #lend(entry: Entry<T>, now: number, stack: string | undefined): PoolLease<T> {
    entry.uses++;
    entry.borrowedAt = now;
    this.#borrowed.add(entry);
    this.#admitted++;
    const lease = new PoolLease<T>(this, entry);
    entry.lease = lease;
    if (this.#leakThreshold !== Number.POSITIVE_INFINITY) {
      entry.stack = stack ?? '';
      entry.leakTimer = this.#clock.setTimeout(
        () => {
          entry.leakTimer = undefined;
          this.#leaks++;
          this.notify('leak', {
            resource: entry.resource,
            heldFor: this.#clock.now() - entry.borrowedAt,
            stack: entry.stack ?? '',
          });
        },
        this.#leakThreshold,
        false,
      );
    }
    return lease;
  }

  /** @internal called by PoolLease.release */
  giveBack(entry: Entry<T>, failed: boolean): void {
    if (!this.#borrowed.delete(entry)) return; // revoked by a forced close
    entry.lease = undefined;
    this.#clearLeak(entry);
    const now = this.#clock.now();
    let reason: DestroyReason | undefined;
    if (failed) reason = 'error';
    else if (this.#shuttingDown) reason = 'closed';
    else if (entry.uses >= this.#maxUses) reason = 'uses';
    else if (now >= entry.expiresAt) reason = 'lifetime';
    if (reason !== undefined) {
      this.#destroy(entry, reason);
      this.#checkDrained();
      this.#dispatch();
      return;
    }
    if (this.#reset === undefined) {
      this.#returnEntry(entry, false);
      return;
    }
    this.#validating++;
    this.#guard(() => this.#reset?.(entry.resource), this.#validateTimeout, 'reset').then(
      () => {
        this.#validating--;
        if (this.#shuttingDown) this.#destroy(entry, 'closed');
        else this.#returnEntry(entry, false);
        this.#checkDrained();
      },
      () => {
        this.#validating--;
        this.#destroy(entry, 'reset-failed');
        this.#checkDrained();
        this.#dispatch();
      },
    );
  }

  #clearLeak(entry: Entry<T>): void {
    if (entry.leakTimer !== undefined) {
      this.#clock.clearTimeout(entry.leakTimer);
      entry.leakTimer = undefined;
    }
  }

  /** Validate with a deadline; a throw or a late answer is "invalid". */
  async #check(entry: Entry<T>): Promise<boolean> {
    const validate = this.#validate;
    if (validate === undefined) return true;
    try {
      const ok = await this.#guard((signal) => validate(entry.resource, signal), this.#validateTimeout, 'validate');
      entry.lastCheckedAt = this.#clock.now();
      return ok === true;
    } catch {
      return false;
    }
  }

  /** Run a factory step with a deadline; its signal aborts at the deadline. */
  #guard<R>(step: (signal: AbortSignal) => R | PromiseLike<R>, ms: number, what: string): Promise<R> {
    const controller = new AbortController();
    return new Promise<R>((resolve, reject) => {
      const timer =
        ms === Number.POSITIVE_INFINITY
          ? undefined
          : this.#clock.setTimeout(() => {
              const error = new TimeoutError(`Pool ${what} timed out after ${ms} ms`);
              controller.abort(error);
              reject(error);
            }, ms);
      let result: Promise<R>;
      try {
        result = Promise.resolve(step(controller.signal));
      } catch (error) {
        result = Promise.reject(error);
      }
      result.then(
        (value) => {
          this.#clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          this.#clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }

  #destroy(entry: Entry<T>, reason: DestroyReason): void {
    this.#size--;
    this.#destroyResource(entry.resource, reason);
    if (!this.#shuttingDown) this.#fill();
  }

  #destroyResource(resource: T, reason: DestroyReason): void {
    this.#destroyed++;
    if (this.listens('destroy')) this.notify('destroy', { resource, reason });
    const destroy = this.#destroyFn;
    if (destroy === undefined) return;
    const done: Promise<void> = this.#guard(() => destroy(resource), this.#destroyTimeout, 'destroy').then(
      () => {
        this.#destroying.delete(done);
      },
      (error: unknown) => {
        this.#destroying.delete(done);
        if (this.listens('destroyError')) this.notify('destroyError', { resource, error });
      },
    );
    this.#destroying.add(done);
  }

  /** Arm the housekeeping timer for `entry`'s next deadline if it is the earliest. */
  #schedule(entry: Entry<T>): void {
    const at = this.#nextDeadline(entry);
    if (at < this.#housekeepingAt) this.#armHousekeeping(at);
  }

  #nextDeadline(entry: Entry<T>): number {
    let at = entry.expiresAt;
    if (this.#idleTimeout !== Number.POSITIVE_INFINITY) at = Math.min(at, entry.lastUsedAt + this.#idleTimeout);
    if (this.#validate !== undefined && this.#keepAliveInterval !== Number.POSITIVE_INFINITY) {
      at = Math.min(at, Math.max(entry.lastUsedAt, entry.lastCheckedAt) + this.#keepAliveInterval);
    }
    return at;
  }

  #armHousekeeping(at: number): void {
    this.#clock.clearTimeout(this.#housekeepingTimer);
    this.#housekeepingAt = at;
    if (at === Number.POSITIVE_INFINITY) {
      this.#housekeepingTimer = undefined;
      return;
    }
    // Housekeeping guards nothing anyone waits for: it does not keep the process alive.
    this.#housekeepingTimer = this.#clock.setTimeout(
      () => this.#housekeeping(),
      Math.max(0, at - this.#clock.now()),
      false,
    );
  }

  /** Retire idle resources past their idle time (down to min) or lifetime; keep-alive checks. */
  #housekeeping(): void {
    this.#housekeepingTimer = undefined;
    this.#housekeepingAt = Number.POSITIVE_INFINITY;
    if (this.#shuttingDown) return;
    const now = this.#clock.now();
    // Oldest idle first (the bottom of the stack).
    for (const entry of [...this.#idle]) {
      let reason: DestroyReason | undefined;
      if (now >= entry.expiresAt) reason = 'lifetime';
      else if (now - entry.lastUsedAt >= this.#idleTimeout && this.#size > this.#min) reason = 'idle';
      if (reason !== undefined) {
        this.#idle.splice(this.#idle.indexOf(entry), 1);
        this.#destroy(entry, reason);
        continue;
      }
      if (
        this.#validate !== undefined &&
        now - Math.max(entry.lastUsedAt, entry.lastCheckedAt) >= this.#keepAliveInterval
      ) {
        this.#idle.splice(this.#idle.indexOf(entry), 1);
        this.#validating++;
        void this.#check(entry).then((ok) => {
          this.#validating--;
          if (this.#shuttingDown) this.#destroy(entry, 'closed');
          else if (!ok) this.#destroy(entry, 'invalid');
          else {
            // Back at the bottom: a keep-alive check does not make a resource hot.
            this.#idle.unshift(entry);
            this.#schedule(entry);
            this.#dispatch();
          }
          this.#checkDrained();
        });
      }
    }
    let next = Number.POSITIVE_INFINITY;
    for (const entry of this.#idle) next = Math.min(next, this.#nextDeadline(entry));
    if (next !== Number.POSITIVE_INFINITY) this.#armHousekeeping(next);
    this.#fill();
  }

  #describe(): string {
    return `${this.#borrowed.size} borrowed, ${this.#idle.length} idle, ${this.#creating} creating, ${this.#waiters.size} waiting, max ${this.#max}`;
  }
}
