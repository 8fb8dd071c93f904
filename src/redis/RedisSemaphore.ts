/**
 * Long file: one class, the ticket queue's rounds, wake-ups, lease renewal
 * and loss, each under its deadline; the options (options.ts), the lease
 * (RedisLease.ts) and the scripts (scripts.ts) live beside it.
 */
import { randomUUID } from 'node:crypto';
import { type Admission, joinSignals, runLeased } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ClosedError, TimeoutError } from '../core/errors.js';
import { checkCount, checkFunction, checkMs, checkRenamed, checkSignal, show } from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';
import { BackendUnavailableError } from './errors.js';
import type {
  LeaseContext,
  RedisSemaphoreAcquireOptions,
  RedisSemaphoreOptions,
  RedisSemaphoreStats,
} from './options.js';
import type { RedisAdapter } from './RedisAdapter.js';
import { toRedisAdapter } from './RedisAdapter.js';
import { RedisLease } from './RedisLease.js';
import { Script, withDeadline } from './Script.js';
import { SEM_ACQUIRE, SEM_CANCEL, SEM_RELEASE, SEM_RENEW } from './scripts.js';

export type {
  LeaseContext,
  RedisSemaphoreAcquireOptions,
  RedisSemaphoreOptions,
  RedisSemaphoreStats,
} from './options.js';

export { RedisLease } from './RedisLease.js';

const acquireScript = new Script(SEM_ACQUIRE);
const releaseScript = new Script(SEM_RELEASE);
const renewScript = new Script(SEM_RENEW);
const cancelScript = new Script(SEM_CANCEL);

/**
 * At most `permits` holders across every process that uses the same Redis and
 * `name`.
 *
 * - Fair: waiting callers take a ticket in a Redis-side queue and are admitted
 *   in ticket order across processes.
 * - No tight polling: a release publishes on a channel that wakes the waiting
 *   processes; each waiting process also re-asks when the earliest lease would
 *   expire and every `waitTtl / 3` to keep its place.
 * - Leases renew themselves every `leaseTtl / 3`; a crashed holder's permit
 *   comes back `leaseTtl` after its last renewal.
 * - Every lease carries a fencing token, and a `signal` that aborts if the
 *   lease is lost (renewal refused, or Redis unreachable for `leaseTtl`).
 *
 * Fails closed: when Redis is unavailable, calls reject with
 * `BackendUnavailableError` within `commandTimeout`. (Admitting without Redis
 * would break the one promise a semaphore makes.)
 *
 * Where Redis's guarantees end: with asynchronous replication, a failover can
 * lose recent grants, so two holders may briefly overlap; the fencing token is
 * what lets the protected system refuse the stale one. The token counter key
 * never expires, so tokens keep growing across idle periods.
 */
export class RedisSemaphore
  implements Admission<RedisLease, RedisSemaphoreAcquireOptions, LeaseContext>, AsyncDisposable
{
  readonly #redis: RedisAdapter;
  readonly #permits: number;
  readonly #leaseTtl: number;
  readonly #waitTtl: number;
  readonly #keyTtl: number;
  readonly #commandTimeout: number;
  readonly #clock: Clock;
  readonly #keys: { holders: string; queue: string; waits: string; ticket: string; fence: string };
  readonly #channel: string;
  /** Waiting callers of this process, in arrival order (a waiter's `data` is its id in the Redis-side queue). */
  readonly #waiters: Waiters;
  readonly #leases = new Set<RedisLease>();
  #unsubscribe: Promise<() => Promise<void>> | undefined = undefined;
  #round: Promise<void> | undefined = undefined;
  #again = false;
  #wakes = 0;
  #roundTimer: unknown = undefined;
  #closed = false;
  #idle: (() => void)[] = [];
  #admitted = 0;
  #rejected = 0;
  #lost = 0;
  /** Refused for `timeout: 0` (the engine counts the waits that timed out). */
  #timedOutNow = 0;
  #unavailable = 0;

  constructor(options: RedisSemaphoreOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(
        `Expected \`options\` to be an object with \`client\`, \`name\` and \`permits\`, got ${show(options)}`,
      );
    }
    checkRenamed(options, { leaseMs: 'leaseTtl', waitTtlMs: 'waitTtl' });
    this.#redis = toRedisAdapter(options.client);
    if (typeof options.name !== 'string' || options.name === '') {
      throw new TypeError(`Expected \`name\` to be a non-empty string, got ${show(options.name)}`);
    }
    this.#permits = checkCount('permits', options.permits, 1, false);
    this.#leaseTtl = atLeast('leaseTtl', options.leaseTtl ?? 30_000, 100);
    this.#waitTtl = atLeast('waitTtl', options.waitTtl ?? 10_000, 100);
    this.#keyTtl = 2 * Math.max(this.#leaseTtl, this.#waitTtl);
    this.#commandTimeout = atLeast('commandTimeout', options.commandTimeout ?? 1000, 1);
    this.#clock = options.clock ?? systemClock;
    const prefix = options.prefix ?? 'sluice:sem:';
    if (typeof prefix !== 'string') throw new TypeError(`Expected \`prefix\` to be a string, got ${show(prefix)}`);
    const base = `${prefix}{${options.name}}:`;
    this.#keys = {
      holders: `${base}holders`,
      queue: `${base}queue`,
      waits: `${base}waits`,
      ticket: `${base}ticket`,
      fence: `${base}fence`,
    };
    this.#channel = `${base}wake`;
    this.#waiters = new Waiters(
      {
        // Leave the Redis-side queue too (a grant already on its way is given back by the round).
        left: (waiter) => this.#left(waiter),
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(
            `Redis semaphore acquire timed out after ${timeout} ms (${this.#permits} permits, ${this.#waiters.size} waiting here)`,
          ),
      },
      this.#clock,
    );
  }

  get permits(): number {
    return this.#permits;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): RedisSemaphoreStats {
    return {
      running: this.#leases.size,
      waiting: this.#waiters.size,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#timedOutNow + this.#waiters.counters.timedOut,
      aborted: this.#waiters.counters.aborted,
      lost: this.#lost,
      unavailable: this.#unavailable,
    };
  }

  /**
   * How many leases are held right now across all processes (expired ones
   * not counted). For monitoring and tests.
   */
  async holders(): Promise<number> {
    const reply = await this.#call('a holder count', () =>
      this.#redis.command(['ZCOUNT', this.#keys.holders, '-inf', '+inf']),
    );
    return Number(reply);
  }

  /**
   * Wait for a permit. The wait is armed from the call on: aborting or timing
   * out at any moment (also while the first request is on its way to Redis)
   * answers the caller at once and leaves the Redis-side queue; a permit Redis
   * granted meanwhile is given back.
   */
  acquire(options?: RedisSemaphoreAcquireOptions): Promise<RedisLease> {
    const signal = checkSignal('signal', options?.signal);
    const timeout = options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
    if (this.#closed) {
      this.#rejected++;
      return Promise.reject(new ClosedError('Redis semaphore is closed'));
    }
    if (timeout === 0) {
      if (signal?.aborted) return this.#waiters.refuseAborted(signal);
      return this.#now();
    }
    const promise = this.#waiters.wait<RedisLease>(1, 0, randomUUID(), undefined, signal, timeout);
    if (this.#waiters.size > 0) void this.#runRound();
    return promise;
  }

  /** A permit now, or `undefined`. Never jumps the Redis-side queue. */
  async tryAcquire(): Promise<RedisLease | undefined> {
    if (this.#closed) return undefined;
    return (await this.#attemptRaw(randomUUID(), 'try')).lease;
  }

  /**
   * Acquire, call `fn({ signal, token })` in the tick of the grant, release
   * once it settles. The work's signal aborts when the caller's does or the
   * lease is lost. Never starts on an aborted signal.
   */
  run<T>(fn: (context: LeaseContext) => T | PromiseLike<T>, options?: RedisSemaphoreAcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    const outer = options?.signal;
    let joined: { readonly signal: AbortSignal; dispose(): void } | undefined;
    return runLeased(
      this.acquire(options),
      (lease) => {
        if (outer === undefined) return fn({ signal: lease.signal, token: lease.token });
        joined = joinSignals(outer, lease.signal);
        return fn({ signal: joined.signal, token: lease.token });
      },
      outer,
      (lease) => {
        joined?.dispose();
        void lease.release();
      },
    );
  }

  /**
   * Stop admitting: waiters of this process reject with `ClosedError` and
   * leave the queue; resolves once this process's leases are released.
   * Idempotent.
   */
  close(): Promise<void> {
    return this.destroy();
  }

  /**
   * `close()`, with `reason` as the waiters' `ClosedError` `cause`. Leases
   * still held are not taken back (their holders may be running): it too
   * resolves once they are released.
   */
  async destroy(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const waiter of this.#waiters) this.#cancelRemote(waiter.data as string);
      this.#waiters.failAll(new ClosedError('Redis semaphore is closed', { cause: reason }));
      this.#clock.clearTimeout(this.#roundTimer);
      this.#roundTimer = undefined;
    }
    if (this.#leases.size > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    const unsubscribe = this.#unsubscribe;
    this.#unsubscribe = undefined;
    if (unsubscribe !== undefined) await (await unsubscribe.catch(() => async () => {}))();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** `timeout: 0`: one attempt that never joins the queue. */
  async #now(): Promise<RedisLease> {
    const { lease } = await this.#attemptRaw(randomUUID(), 'try');
    if (this.#closed) {
      await lease?.release();
      throw new ClosedError('Redis semaphore is closed');
    }
    if (lease !== undefined) return lease;
    this.#timedOutNow++;
    throw new TimeoutError(`Redis semaphore acquire timed out after 0 ms (${this.#permits} permits)`);
  }

  #wake(): void {
    this.#wakes++;
    if (this.#waiters.size > 0) void this.#runRound();
  }

  #schedule(ms: number): void {
    this.#clock.clearTimeout(this.#roundTimer);
    this.#roundTimer = this.#clock.setTimeout(
      () => {
        this.#roundTimer = undefined;
        void this.#runRound();
      },
      Math.max(1, Math.ceil(ms)),
    );
  }

  /**
   * Every waiter asks again (in order); rounds never overlap. Each answer is
   * acted on as it arrives: a grant goes to its waiter at once, or back to
   * Redis when the waiter left meanwhile.
   */
  async #runRound(): Promise<void> {
    if (this.#round !== undefined) {
      this.#again = true;
      return this.#round;
    }
    this.#round = (async () => {
      // Subscribe before the first attempt, so no release can slip between them.
      try {
        this.#unsubscribe ??= this.#call('a subscription', () =>
          this.#redis.subscribe(this.#channel, () => this.#wake()),
        ).catch((error: unknown) => {
          this.#unsubscribe = undefined;
          throw error;
        });
        await this.#unsubscribe;
      } catch (error) {
        this.#waiters.failAll(error);
        return;
      }
      do {
        this.#again = false;
        const wakes = this.#wakes;
        let next = this.#waitTtl / 3;
        const asked = [...this.#waiters].map((waiter) =>
          this.#attemptRaw(waiter.data as string, 'wait').then(
            (reply) => {
              if (reply.lease === undefined) {
                if (waiter.done)
                  this.#cancelRemote(waiter.data as string); // it left while the request flew
                else next = Math.min(next, reply.hint);
              } else if (waiter.done)
                void reply.lease.release(); // it left while Redis granted: give it back
              else this.#waiters.grant(waiter, reply.lease);
            },
            (error: unknown) => this.#waiters.fail(waiter, error),
          ),
        );
        await Promise.all(asked);
        // A release published while this round was on its way would be missed.
        if (this.#wakes !== wakes) this.#again = true;
        if (this.#waiters.size > 0 && !this.#closed) {
          if (!this.#again) this.#schedule(next);
        } else {
          this.#clock.clearTimeout(this.#roundTimer);
          this.#roundTimer = undefined;
        }
      } while (this.#again && this.#waiters.size > 0 && !this.#closed);
    })().finally(() => {
      this.#round = undefined;
    });
    return this.#round;
  }

  async #attemptRaw(id: string, mode: 'wait' | 'try'): Promise<{ lease?: RedisLease; hint: number }> {
    const k = this.#keys;
    const reply = (await this.#call('an acquire', () =>
      acquireScript.run(
        this.#redis,
        [k.holders, k.queue, k.waits, k.ticket, k.fence],
        [id, String(this.#permits), String(this.#leaseTtl), String(this.#waitTtl), mode, String(this.#keyTtl)],
      ),
    )) as [number, number, number?];
    if (reply[0] === 1) return { lease: this.#grant(id, Number(reply[1])), hint: 0 };
    return { hint: Math.max(1, Number(reply[2] ?? this.#leaseTtl)) };
  }

  #grant(id: string, token: number): RedisLease {
    this.#admitted++;
    const controller = new AbortController();
    let renewTimer: unknown;
    let confirmedAt = this.#clock.now();
    let stopped = false;
    const stop = () => {
      stopped = true;
      this.#clock.clearTimeout(renewTimer);
      this.#leases.delete(lease);
      if (this.#leases.size === 0 && this.#idle.length > 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
      }
    };
    const renew = async () => {
      if (stopped) return;
      try {
        const ok = await this.#call('a lease renewal', () =>
          renewScript.run(this.#redis, [this.#keys.holders], [id, String(this.#leaseTtl), String(this.#keyTtl)]),
        );
        if (stopped) return;
        if (Number(ok) === 1) confirmedAt = this.#clock.now();
        else {
          this.#lost++;
          lease.lose(`Lease ${token} of Redis semaphore expired before it was renewed`);
          stop();
          return;
        }
      } catch {
        if (stopped) return;
        if (this.#clock.now() - confirmedAt >= this.#leaseTtl) {
          this.#lost++;
          lease.lose(
            `Lease ${token} of Redis semaphore could not be renewed for ${this.#leaseTtl} ms (Redis unreachable)`,
          );
          stop();
          return;
        }
      }
      renewTimer = this.#clock.setTimeout(renew, this.#leaseTtl / 3, false);
    };
    const lease = new RedisLease(token, controller, async () => {
      const wasStopped = stopped;
      stop();
      if (wasStopped) return;
      try {
        await this.#call('a release', () =>
          releaseScript.run(this.#redis, [this.#keys.holders, this.#keys.queue], [id, this.#channel]),
        );
      } catch {
        // Unreachable Redis: the lease expires by itself within leaseTtl.
      }
    });
    this.#leases.add(lease);
    renewTimer = this.#clock.setTimeout(renew, this.#leaseTtl / 3, false);
    return lease;
  }

  /** A waiter left by abort or deadline: leave the Redis-side queue; stop the round timer when none waits. */
  #left(waiter: Waiter): void {
    this.#cancelRemote(waiter.data as string);
    if (this.#waiters.size === 0) {
      this.#clock.clearTimeout(this.#roundTimer);
      this.#roundTimer = undefined;
    }
  }

  /** Leave the Redis-side queue (and wake the others); best effort. */
  #cancelRemote(id: string): void {
    void this.#call('a cancel', () =>
      cancelScript.run(this.#redis, [this.#keys.queue, this.#keys.waits], [id, this.#channel]),
    ).catch(() => {
      // Unreachable: the queue entry expires by itself after waitTtl.
    });
  }

  #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    return withDeadline(this.#clock, this.#commandTimeout, what, call).catch((error: unknown) => {
      if (error instanceof BackendUnavailableError) this.#unavailable++;
      throw error;
    });
  }
}

function atLeast(name: string, value: unknown, min: number): number {
  const ms = checkMs(name, value, false);
  if (ms < min)
    throw new RangeError(`Expected \`${name}\` to be a finite number of milliseconds >= ${min}, got ${show(ms)}`);
  return ms;
}
