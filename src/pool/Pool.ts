/**
 * Long file: one class, the pool's state and each of its transitions
 * (lend, give back, dispatch, create outcomes, close). The options, the
 * lease, the factory with its deadlines and backoff, and the housekeeping
 * decisions live beside it (options.ts, PoolLease.ts, ResourceFactory.ts,
 * housekeeping.ts).
 */
import { type Admission, type AdmissionStats, type Lifecycle, runLeased } from '../core/admission.js';
import { Emitter } from '../core/Emitter.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { admissions, Trace } from '../core/trace.js';
import { checkFiniteNumber, checkFunction, checkMs, checkSignal } from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';
import { nextDeadline, sweep } from './housekeeping.js';
import { type PoolOptions, type PoolSettings, poolSettings } from './options.js';
import { borrowerStack, type DestroyReason, Entry, type LeaseOwner, PoolLease } from './PoolLease.js';
import { ResourceFactory } from './ResourceFactory.js';

export type { PoolOptions } from './options.js';
export { type DestroyReason, PoolLease } from './PoolLease.js';

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
  implements Admission<PoolLease<T>, PoolAcquireOptions, PoolRunContext<T>>, Lifecycle, LeaseOwner<T>
{
  readonly #o: PoolSettings<T>;
  readonly #factory: ResourceFactory<T>;
  /** Idle resources; the top (end) is the most recently returned. */
  readonly #idle: Entry<T>[] = [];
  readonly #borrowed = new Set<Entry<T>>();
  /** Callers waiting; a waiter's `data` is its borrower's stack (leak detection only). */
  readonly #waiters: Waiters;
  /** Resources out of `#idle` for a validation or a reset (they come back, or are destroyed). */
  #validating = 0;
  /** Callers that have waited, ever (each waiter's ticket holds its number). */
  #arrivals = 0;
  #backoffTimer: unknown = undefined;
  #housekeepingTimer: unknown = undefined;
  #housekeepingAt = Number.POSITIVE_INFINITY;
  #closing: Promise<void> | undefined = undefined;
  /** Set before anything else happens in close(), so nothing it triggers creates anew. */
  #shuttingDown = false;
  #drained: (() => void) | undefined = undefined;
  /** After close(): destroy what is still out, now (set while close waits). */
  #revokeNow: (() => void) | undefined = undefined;
  #closeReason: unknown = undefined;
  #created = 0;
  #destroyed = 0;
  #createFailures = 0;
  #leaks = 0;
  #admitted = 0;
  #rejected = 0;
  readonly #trace: Trace;

  constructor(options: PoolOptions<T>) {
    super();
    this.#o = poolSettings(options);
    this.#trace = new Trace(this, 'Pool', this.#o.name, this.#o.clock);
    this.#factory = new ResourceFactory(this.#o, (resource) => {
      this.#created++; // made by the factory, never lent: counted, then destroyed
      this.#destroyResource(resource, 'late-create');
    });
    this.#waiters = new Waiters(
      {
        left: () => {},
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(`Pool acquire timed out after ${timeout} ms (${this.#describe()})`),
      },
      this.#o.clock,
      undefined,
      this.#trace,
    );
    this.#fill();
  }

  /** Resources alive: idle, lent, or out for a validation or a reset. */
  get #size(): number {
    return this.#idle.length + this.#borrowed.size + this.#validating;
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
      creating: this.#factory.creating,
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
    let timeout = this.#o.acquireTimeout;
    let priority = 0;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      if (options.priority !== undefined) priority = checkFiniteNumber('priority', options.priority);
      signal = checkSignal('signal', options.signal);
    }
    if (this.#shuttingDown) {
      this.#rejected++;
      return this.#refuse(new ClosedError('Pool is closed'));
    }
    if (signal?.aborted) return this.#waiters.refuseAborted(signal);
    // Fast path: nobody waits and the top idle resource needs no check.
    const stack = this.#o.leakThreshold === Number.POSITIVE_INFINITY ? undefined : borrowerStack();
    if (this.#waiters.size === 0) {
      const lease = this.#tryLend(stack);
      if (lease !== undefined) return lease;
    }
    if (this.#waiters.size >= this.#o.maxWaiting) {
      this.#rejected++;
      return this.#refuse(
        new QueueFullError(
          `Pool queue is full (${this.#waiters.size}/${this.#o.maxWaiting} waiting; ${this.#describe()})`,
        ),
      );
    }
    const ticket: Ticket = { stack, arrival: this.#arrivals++ };
    const promise = this.#waiters.wait<PoolLease<T>>(1, priority, ticket, undefined, signal, timeout);
    this.#dispatch();
    return promise;
  }

  /** An idle resource now (one that needs no validation), or `undefined`. Never jumps the queue. */
  tryAcquire(): PoolLease<T> | undefined {
    if (this.#shuttingDown || this.#waiters.size > 0) return undefined;
    return this.#tryLend(this.#o.leakThreshold === Number.POSITIVE_INFINITY ? undefined : borrowerStack());
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
    } catch (error) {
      this.#failed(lease, error);
      throw error;
    } finally {
      lease.release();
    }
  }

  /** How `run()` gives a lease back (one function for every call). */
  readonly #finish = (lease: PoolLease<T>, failed: boolean, error: unknown): void => {
    if (failed) this.#failed(lease, error);
    else lease.release();
  };

  /** The work of `lease` failed with `error`: destroy its resource, check it before its next borrower, or keep it. */
  #failed(lease: PoolLease<T>, error: unknown): void {
    const broken = this.#o.isBroken?.(error, lease.resource);
    if (broken === false) lease.release();
    else if (broken === true || this.#o.validate === undefined) lease.release(error ?? new Error('broken'));
    else lease.releaseSuspect();
  }

  /**
   * The admission protocol's `run`: `fn({ resource, signal })` with a borrowed
   * resource, given back once `fn` settles. An idle resource starts `fn`
   * synchronously. Never starts on an aborted signal.
   */
  run<R>(fn: (context: PoolRunContext<T>) => R | PromiseLike<R>, options?: PoolAcquireOptions): Promise<R> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    return runLeased(this.#admit(options), (lease) => fn({ resource: lease.resource, signal }), signal, this.#finish);
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
    return this.#close(false);
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
    return this.#close(true);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #close(now: boolean): Promise<void> {
    if (this.#closing === undefined) {
      this.#shuttingDown = true;
      this.#closing = this.#shutdown(now);
    }
    return this.#closing;
  }

  async #shutdown(now: boolean): Promise<void> {
    this.#waiters.failAll(new ClosedError('Pool is closed', { cause: this.#closeReason }));
    this.#o.clock.clearTimeout(this.#backoffTimer);
    this.#o.clock.clearTimeout(this.#housekeepingTimer);
    this.#housekeepingTimer = undefined;
    for (const entry of this.#idle.splice(0)) this.#destroy(entry, 'closed');
    const revoke = () => {
      this.#revokeNow = undefined;
      this.#factory.abortCreates(new ClosedError('Pool was destroyed', { cause: this.#closeReason }));
      for (const entry of [...this.#borrowed]) {
        this.#borrowed.delete(entry);
        entry.unwatchLeak(this.#o.clock);
        this.#destroy(entry, 'closed');
      }
      this.#checkDrained(true);
    };
    if (now) revoke();
    else this.#revokeNow = revoke;
    if (this.#borrowed.size > 0 || this.#factory.creating > 0 || this.#validating > 0) {
      // Creates were aborted (destroy) and validations are bounded by validateTimeout.
      await new Promise<void>((resolve) => {
        this.#drained = resolve;
      });
    }
    this.#revokeNow = undefined;
    await this.#factory.destroyed();
  }

  #checkDrained(force = false): void {
    if (this.#drained === undefined) return;
    if (force || (this.#borrowed.size === 0 && this.#factory.creating === 0 && this.#validating === 0)) {
      const drained = this.#drained;
      this.#drained = undefined;
      drained();
    }
  }

  /** Lend the top idle resource if it needs no check; drop expired ones on the way. */
  #tryLend(stack: string | undefined): PoolLease<T> | undefined {
    const now = this.#o.clock.now();
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
      const lease = this.#lend(entry, now, stack);
      if (admissions.hasSubscribers) this.#trace.admitted(lease);
      return lease;
    }
    return undefined;
  }

  /** A refusal at once (closed, queue full), told on the admission channel. */
  #refuse(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  #needsValidation(entry: Entry<T>, now: number): boolean {
    return this.#o.validate !== undefined && now - entry.lastUsedAt > this.#o.validateAfterIdle;
  }

  /** Match idle resources with waiters; start creates for the demand left. */
  #dispatch(): void {
    if (this.#shuttingDown) return;
    if (this.#idle.length === 0) {
      this.#fill();
      return;
    }
    const now = this.#o.clock.now();
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
      this.#waiters.grant(waiter, this.#lend(entry, now, (waiter.data as Ticket).stack));
    }
    this.#fill();
  }

  /** Start creates: for `min`, and for waiters no idle, validating or creating resource will serve. */
  #fill(): void {
    if (this.#shuttingDown || this.#backoffTimer !== undefined) return;
    const { maxCreating, max, min } = this.#o;
    const factory = this.#factory;
    const size = this.#size; // a create changes only `creating`
    while (
      factory.creating < maxCreating &&
      size + factory.creating < max &&
      (size + factory.creating < min || this.#waiters.size > factory.creating + this.#validating + this.#idle.length)
    ) {
      // A create's failure is news only to the callers that were waiting when it began.
      const since = this.#arrivals;
      factory.create(this.#onCreated, (error) => this.#onCreateFailed(error, since));
    }
  }

  readonly #onCreated = (resource: T): void => {
    const now = this.#o.clock.now();
    const lifetime = this.#o.maxLifetime * (1 - this.#o.lifetimeJitter * this.#o.random());
    const entry = new Entry(resource, now, now + lifetime);
    this.#created++;
    if (this.listens('create')) this.notify('create', { resource });
    if (this.#shuttingDown) {
      this.#destroyResource(resource, 'closed');
      this.#checkDrained();
      return;
    }
    this.#returnEntry(entry, true);
  };

  /** A create failed; `since`: the arrivals counted when it began (later callers never waited on it). */
  #onCreateFailed(error: unknown, since: number): void {
    if (this.#shuttingDown) {
      this.#checkDrained();
      return;
    }
    this.#createFailures++;
    if (this.listens('createError')) this.notify('createError', { error });
    // The failure reaches the callers that were waiting when this create began:
    // the oldest of them, or all of them when no resource exists or is on its
    // way that could serve them. Callers that came later wait for the next
    // attempt (a burst after the factory recovered is not failed by a create
    // begun before it).
    const hopeless = this.#size === 0 && this.#factory.creating === 0;
    const failure = error instanceof Error ? error : new Error(String(error));
    const before: Waiter[] = [];
    for (const waiter of this.#waiters) {
      if ((waiter.data as Ticket).arrival < since) before.push(waiter);
      if (!hopeless) break;
    }
    if (hopeless) {
      for (const waiter of before) this.#waiters.fail(waiter, failure);
    } else if (this.#waiters.size > this.#factory.creating + this.#validating && before[0] !== undefined) {
      this.#waiters.fail(before[0], failure);
    }
    this.#backoffTimer = this.#o.clock.setTimeout(
      () => {
        this.#backoffTimer = undefined;
        this.#dispatch();
      },
      Math.max(0, this.#factory.backoff()),
      this.#waiters.size > 0,
    );
  }

  /** A resource is free (new, returned, validated): to the oldest waiter, or idle. */
  #returnEntry(entry: Entry<T>, fresh: boolean): void {
    const now = this.#o.clock.now();
    if (!fresh) entry.lastUsedAt = now;
    const waiter = this.#waiters.first();
    if (waiter !== undefined) {
      this.#waiters.grant(waiter, this.#lend(entry, now, (waiter.data as Ticket).stack));
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
    if (this.#o.leakThreshold !== Number.POSITIVE_INFINITY) {
      entry.watchLeak(this.#o.clock, this.#o.leakThreshold, stack ?? '', (heldFor, where) => {
        this.#leaks++;
        this.notify('leak', { resource: entry.resource, heldFor, stack: where });
      });
    }
    return lease;
  }

  /** @internal called by PoolLease.release */
  giveBack(entry: Entry<T>, state: 'sound' | 'broken' | 'suspect'): void {
    if (!this.#borrowed.delete(entry)) return; // revoked by a forced close
    if (admissions.hasSubscribers && entry.lease !== undefined) this.#trace.released(entry.lease);
    entry.lease = undefined;
    entry.unwatchLeak(this.#o.clock);
    const now = this.#o.clock.now();
    let reason: DestroyReason | undefined;
    if (state === 'broken') reason = 'error';
    else if (this.#shuttingDown) reason = 'closed';
    else if (entry.uses >= this.#o.maxUses) reason = 'uses';
    else if (now >= entry.expiresAt) reason = 'lifetime';
    if (reason !== undefined) {
      this.#destroy(entry, reason);
      this.#checkDrained();
      this.#dispatch();
      return;
    }
    if (state === 'suspect') {
      // Its work failed: validated before anyone else may borrow it (a dead connection
      // then costs only the calls that were using it, not the queue behind them).
      this.#validating++;
      void this.#check(entry).then((ok) => {
        this.#validating--;
        if (ok && !this.#shuttingDown) this.#recycle(entry);
        else {
          this.#destroy(entry, ok ? 'closed' : 'invalid');
          this.#checkDrained();
          this.#dispatch();
        }
      });
      return;
    }
    this.#recycle(entry);
  }

  /** A returned resource that is sound: reset (when there is a `reset`), then lent or idle. */
  #recycle(entry: Entry<T>): void {
    if (this.#o.reset === undefined) {
      this.#returnEntry(entry, false);
      return;
    }
    this.#validating++;
    this.#factory.reset(entry.resource).then(
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

  /** Validate (with its deadline) and note when. */
  async #check(entry: Entry<T>): Promise<boolean> {
    const ok = await this.#factory.validate(entry.resource);
    if (ok) entry.lastCheckedAt = this.#o.clock.now();
    return ok;
  }

  /** A resource that was alive (idle, lent, or out for a check) is destroyed. */
  #destroy(entry: Entry<T>, reason: DestroyReason): void {
    this.#destroyResource(entry.resource, reason);
    if (!this.#shuttingDown) this.#fill();
  }

  #destroyResource(resource: T, reason: DestroyReason): void {
    this.#destroyed++;
    if (this.listens('destroy')) this.notify('destroy', { resource, reason });
    this.#factory.destroy(resource, (error) => {
      if (this.listens('destroyError')) this.notify('destroyError', { resource, error });
    });
  }

  /** Arm the housekeeping timer for `entry`'s next deadline if it is the earliest. */
  #schedule(entry: Entry<T>): void {
    const at = nextDeadline(entry, this.#o);
    if (at < this.#housekeepingAt) this.#armHousekeeping(at);
  }

  #armHousekeeping(at: number): void {
    const clock = this.#o.clock;
    clock.clearTimeout(this.#housekeepingTimer);
    this.#housekeepingAt = at;
    if (at === Number.POSITIVE_INFINITY) {
      this.#housekeepingTimer = undefined;
      return;
    }
    // Housekeeping guards nothing anyone waits for: it does not keep the process alive.
    this.#housekeepingTimer = clock.setTimeout(() => this.#housekeeping(), Math.max(0, at - clock.now()), false);
  }

  /** Retire idle resources past their idle time (down to min) or lifetime; keep-alive checks. */
  #housekeeping(): void {
    this.#housekeepingTimer = undefined;
    this.#housekeepingAt = Number.POSITIVE_INFINITY;
    if (this.#shuttingDown) return;
    // Oldest idle first (the bottom of the stack).
    const { retire, check, next } = sweep(this.#idle, this.#o.clock.now(), this.#size, this.#o);
    for (const [entry, reason] of retire) {
      this.#idle.splice(this.#idle.indexOf(entry), 1);
      this.#destroy(entry, reason);
    }
    for (const entry of check) {
      this.#idle.splice(this.#idle.indexOf(entry), 1);
      this.#keepAlive(entry);
    }
    if (next !== Number.POSITIVE_INFINITY) this.#armHousekeeping(next);
    this.#fill();
  }

  /** A keep-alive check of an idle resource; valid, it goes back to the bottom (a check does not make it hot). */
  #keepAlive(entry: Entry<T>): void {
    this.#validating++;
    void this.#check(entry).then((ok) => {
      this.#validating--;
      if (this.#shuttingDown) this.#destroy(entry, 'closed');
      else if (!ok) this.#destroy(entry, 'invalid');
      else {
        this.#idle.unshift(entry);
        this.#schedule(entry);
        this.#dispatch();
      }
      this.#checkDrained();
    });
  }

  #describe(): string {
    return `${this.#borrowed.size} borrowed, ${this.#idle.length} idle, ${this.#factory.creating} creating, ${this.#waiters.size} waiting, max ${this.#o.max}`;
  }
}

/** What a waiting caller carries: where it borrowed (leak reports) and when it came. */
interface Ticket {
  readonly stack: string | undefined;
  readonly arrival: number;
}
