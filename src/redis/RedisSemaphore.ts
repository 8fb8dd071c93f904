/**
 * Long file: one class, the ticket queue's rounds, wake-ups, lease renewal
 * and loss, each under its deadline; the options (options.ts), the lease
 * (RedisLease.ts) and the scripts (scripts.ts) live beside it.
 */
import { randomUUID } from 'node:crypto';
import { type Admission, joinSignals, runLeased } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ClosedError, TimeoutError } from '../core/errors.js';
import { admissions, Trace } from '../core/trace.js';
import { checkCount, checkFunction, checkMs, checkRenamed, checkSignal, show } from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';
import { BackendUnavailableError } from './errors.js';
import { checkPrefix, hashTagSafe } from './keys.js';
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
import { SEM_ACQUIRE, SEM_HOLDERS, SEM_LEAVE, SEM_PRESENCE, SEM_RENEW } from './scripts.js';

export type {
  LeaseContext,
  RedisSemaphoreAcquireOptions,
  RedisSemaphoreOptions,
  RedisSemaphoreStats,
} from './options.js';

export { RedisLease } from './RedisLease.js';

const acquireScript = new Script(SEM_ACQUIRE);
const presenceScript = new Script(SEM_PRESENCE);
const leaveScript = new Script(SEM_LEAVE);
const renewScript = new Script(SEM_RENEW);
const holdersScript = new Script(SEM_HOLDERS);

/** Ids of waiters sent per presence refresh (one script call each). */
const PRESENCE_BATCH = 500;

/**
 * At most `permits` holders across every process that uses the same Redis and
 * `name`.
 *
 * - Fair: waiting callers take a ticket in a Redis-side queue and are admitted
 *   in ticket order across processes.
 * - O(1) per release, whatever the number of waiters: the script that frees a
 *   permit hands it to the head of the queue and tells that waiter's process
 *   alone (one PUBLISH on its own channel); the process confirms with one
 *   renewal and answers the caller. An acquire costs two or three script
 *   calls in all. Each waiting process refreshes its place once per
 *   `waitTtl / 3` (one call for all its waiters), which also finds a
 *   hand-off whose message was lost.
 * - Leases renew themselves every `leaseTtl / 3`; a crashed holder's permit
 *   comes back `leaseTtl` after its last renewal.
 * - Every lease carries a fencing token, and a `signal` that aborts if the
 *   lease is lost: renewal refused, or no renewal confirmed for 90% of
 *   `leaseTtl` counted from when it was *sent* (so a holder cut off from
 *   Redis knows before Redis can give its permit to anyone else).
 * - Abandoned calls leave nothing behind: an abort or timeout at any moment
 *   (also while the first request is on its way) leaves the queue, and a
 *   permit granted meanwhile, or granted by a request that timed out or was
 *   queued while Redis was away, is given back by a leave sent after it on
 *   the same connection.
 *
 * Fails closed: when Redis is unavailable, calls reject with
 * `BackendUnavailableError` within `commandTimeout`. (Admitting without Redis
 * would break the one promise a semaphore makes.)
 *
 * Where Redis's guarantees end: with asynchronous replication a failover can
 * lose recent grants, and a restart without persistence loses every lease, so
 * two holders may briefly overlap (the old one learns at its next renewal).
 * The fencing token is what lets the protected system refuse the stale one:
 * tokens never fall below the server's clock in microseconds, so they keep
 * growing across idle periods and restarts (a failover to a server whose
 * clock is behind the old one's can repeat tokens for that difference).
 * Every process must use the same `permits` for a name: a second
 * configuration fails its acquires with an error saying so.
 */
export class RedisSemaphore
  implements Admission<RedisLease, RedisSemaphoreAcquireOptions, LeaseContext>, AsyncDisposable
{
  readonly #redis: RedisAdapter;
  readonly #permits: number;
  readonly #leaseTtl: number;
  readonly #waitTtl: number;
  /** How long a handed-off permit is kept for its waiter before the waiter confirms it. */
  readonly #claim: number;
  readonly #keyTtl: number;
  readonly #commandTimeout: number;
  readonly #clock: Clock;
  readonly #keys: string[];
  readonly #wakePrefix: string;
  /** This process-side semaphore's id in Redis; its waiters' ids start with it. */
  readonly #owner = randomUUID().replaceAll('-', '');
  readonly #channel: string;
  /** The arguments every script call starts with (permits, claim, key ttl, wake prefix). */
  readonly #common: string[];
  #sequence = 0;
  /** Waiting callers of this process, in arrival order (a waiter's `data` is its id in the Redis-side queue). */
  readonly #waiters: Waiters;
  /** Live waiters by id, once their first ask is sent. */
  readonly #asked = new Map<string, Waiter>();
  /** Ids whose hand-off is being confirmed. */
  readonly #confirming = new Set<string>();
  readonly #leases = new Set<RedisLease>();
  /** Leaves and releases on their way: close() waits for them, so a client closed after it loses none. */
  readonly #leaving = new Set<Promise<unknown>>();
  #subscription: Promise<() => Promise<void>> | undefined = undefined;
  #presenceTimer: unknown = undefined;
  #presenceAt = Number.POSITIVE_INFINITY;
  #closed = false;
  #idle: (() => void)[] = [];
  #admitted = 0;
  #rejected = 0;
  readonly #trace: Trace;
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
    this.#claim = Math.min(this.#leaseTtl, this.#waitTtl);
    this.#keyTtl = 2 * Math.max(this.#leaseTtl, this.#waitTtl);
    this.#commandTimeout = atLeast('commandTimeout', options.commandTimeout ?? 1000, 1);
    this.#clock = options.clock ?? systemClock;
    this.#trace = new Trace(this, 'RedisSemaphore', options.name, this.#clock);
    const prefix = checkPrefix(options.prefix ?? 'sluice:sem:');
    const base = `${prefix}{${hashTagSafe(options.name)}}:`;
    this.#keys = ['holders', 'queue', 'owners', 'grants', 'ticket', 'fence', 'config'].map((k) => base + k);
    this.#wakePrefix = `${base}wake:`;
    this.#channel = this.#wakePrefix + this.#owner;
    this.#common = [String(this.#permits), String(this.#claim), String(this.#keyTtl), this.#wakePrefix];
    this.#waiters = new Waiters(
      {
        left: (waiter) => this.#left(waiter),
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(
            `Redis semaphore acquire timed out after ${timeout} ms (${this.#permits} permits, ${this.#waiters.size} waiting here)`,
          ),
      },
      this.#clock,
      undefined,
      this.#trace,
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
   * How many leases are held right now across all processes (those past
   * their expiry on the server's clock not counted). For monitoring and tests.
   */
  async holders(): Promise<number> {
    const reply = await this.#call('a holder count', () =>
      holdersScript.run(this.#redis, [this.#keys[0] as string], []),
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
      const error = new ClosedError('Redis semaphore is closed');
      if (admissions.hasSubscribers) this.#trace.rejected(error);
      return Promise.reject(error);
    }
    if (timeout === 0) {
      if (signal?.aborted) return this.#waiters.refuseAborted(signal);
      return this.#now();
    }
    const id = this.#nextId();
    const promise = this.#waiters.wait<RedisLease>(1, 0, id, undefined, signal, timeout);
    const waiter = this.#waiters.last();
    if (waiter !== undefined && waiter.data === id) void this.#ask(waiter);
    return promise;
  }

  /** A permit now, or `undefined`. Never jumps the Redis-side queue. */
  async tryAcquire(): Promise<RedisLease | undefined> {
    if (this.#closed) return undefined;
    return this.#try();
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
   * leave the queue; resolves once this process's leases are released and
   * Redis has answered every release and leave (waiting at most
   * `commandTimeout` for them; an unreachable Redis gets the permits back by
   * expiry), so the client can be closed right after. Idempotent.
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
      for (const id of this.#asked.keys()) this.#leave(id);
      this.#asked.clear();
      this.#waiters.failAll(new ClosedError('Redis semaphore is closed', { cause: reason }));
      this.#stopPresence();
    }
    if (this.#leases.size > 0) await new Promise<void>((resolve) => this.#idle.push(resolve));
    await this.#leavesDone();
    const subscription = this.#subscription;
    this.#subscription = undefined;
    if (subscription !== undefined) await (await subscription.catch(() => async () => {}))();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /**
   * Until Redis has answered every release and leave sent (also those past
   * their own deadline, which still run once it answers), for at most
   * `commandTimeout` more: a Redis that does not answer by then is treated as
   * unreachable, and the permits come back by expiry.
   */
  async #leavesDone(): Promise<void> {
    if (this.#leaving.size === 0) return;
    let timer: unknown;
    const expired = new Promise<void>((resolve) => {
      timer = this.#clock.setTimeout(resolve, this.#commandTimeout, false);
    });
    const answered = (async () => {
      while (this.#leaving.size > 0) await Promise.allSettled([...this.#leaving]);
    })();
    await Promise.race([answered, expired]);
    this.#clock.clearTimeout(timer);
  }

  #nextId(): string {
    return `${this.#owner}.${(this.#sequence++).toString(36)}`;
  }

  /** `timeout: 0`: one attempt that never joins the queue. */
  async #now(): Promise<RedisLease> {
    let lease: RedisLease | undefined;
    let error: unknown;
    try {
      lease = await this.#try();
      if (this.#closed) {
        await lease?.release();
        error = new ClosedError('Redis semaphore is closed');
      } else if (lease === undefined) {
        this.#timedOutNow++;
        error = new TimeoutError(`Redis semaphore acquire timed out after 0 ms (${this.#permits} permits)`);
      }
    } catch (failure) {
      error = failure;
    }
    if (error === undefined && lease !== undefined) {
      if (admissions.hasSubscribers) this.#trace.admitted(lease);
      return lease;
    }
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    throw error;
  }

  async #try(): Promise<RedisLease | undefined> {
    const id = this.#nextId();
    const sentAt = this.#clock.now();
    let reply: [number, number | string];
    try {
      reply = await this.#acquireCall(id, 'try');
    } catch (error) {
      this.#leave(id); // it may still run later: a permit granted to nobody goes back at once
      throw error;
    }
    return reply[0] === 1 ? this.#grant(id, Number(reply[1]), sentAt) : undefined;
  }

  /** The first ask of a waiter: granted now, or queued to be handed a permit. */
  async #ask(waiter: Waiter): Promise<void> {
    const id = waiter.data as string;
    try {
      // Subscribed before the first ask, so no hand-off can be published unheard.
      this.#subscription ??= this.#call('a subscription', () =>
        this.#redis.subscribe(this.#channel, (message) => this.#message(message)),
      ).catch((error: unknown) => {
        this.#subscription = undefined;
        throw error;
      });
      await this.#subscription;
    } catch (error) {
      this.#waiters.fail(waiter, error);
      return;
    }
    if (waiter.done) return; // it left before anything was sent: nothing to undo
    this.#asked.set(id, waiter);
    const sentAt = this.#clock.now();
    let reply: [number, number | string];
    try {
      reply = await this.#acquireCall(id, 'wait');
    } catch (error) {
      this.#asked.delete(id);
      this.#waiters.fail(waiter, error);
      this.#leave(id); // the ask may still run later (timed out, or queued while Redis was away)
      return;
    }
    if (reply[0] === 1) this.#deliver(id, Number(reply[1]), sentAt);
    else if (!waiter.done) this.#presenceIn(Number(reply[1]));
  }

  #acquireCall(id: string, mode: 'wait' | 'try'): Promise<[number, number | string]> {
    return this.#call('an acquire', () =>
      acquireScript.run(this.#redis, this.#keys, [
        ...this.#common,
        id,
        this.#owner,
        String(this.#leaseTtl),
        String(this.#waitTtl),
        mode,
      ]),
    ) as Promise<[number, number | string]>;
  }

  /** A hand-off published to this process: `<id> <token>`. */
  #message(message: string | undefined): void {
    const space = typeof message === 'string' ? message.indexOf(' ') : -1;
    if (message === undefined || space < 0) {
      // An adapter that passes no message: look for hand-offs now.
      if (this.#asked.size > 0) this.#presenceIn(0);
      return;
    }
    this.#confirm(message.slice(0, space), Number(message.slice(space + 1)));
  }

  /**
   * Redis handed `id` a permit for `claim` ms: renew it to a full lease, then
   * answer its caller. A caller that left meanwhile has sent its leave, which
   * gives the permit back.
   */
  #confirm(id: string, token: number): void {
    const waiter = this.#asked.get(id);
    if (waiter === undefined || waiter.done || this.#confirming.has(id)) return;
    this.#confirming.add(id);
    const sentAt = this.#clock.now();
    this.#renewCall(id).then(
      (ok) => {
        this.#confirming.delete(id);
        if (ok) this.#deliver(id, token, sentAt);
        else this.#reask(id); // the claim ran out before it was confirmed: take a new place
      },
      (error: unknown) => {
        this.#confirming.delete(id);
        this.#asked.delete(id);
        this.#waiters.fail(waiter, error);
        this.#leave(id);
      },
    );
  }

  /** `id` lost its place in the Redis-side queue while it still waits here: take a new one. */
  #reask(id: string): void {
    const waiter = this.#asked.get(id);
    if (waiter === undefined || waiter.done || this.#confirming.has(id)) return;
    this.#asked.delete(id);
    void this.#ask(waiter);
  }

  #deliver(id: string, token: number, sentAt: number): void {
    const waiter = this.#asked.get(id);
    this.#asked.delete(id);
    if (waiter === undefined || waiter.done) return; // it left: its leave gives the permit back
    this.#waiters.grant(waiter, this.#grant(id, token, sentAt));
    if (this.#waiters.size === 0) this.#stopPresence();
  }

  /** Refresh this process's place at the latest in `ms` (sooner if asked sooner). */
  #presenceIn(ms: number): void {
    if (this.#closed) return;
    const delay = Math.max(1, Math.ceil(Math.min(ms, this.#waitTtl / 3)));
    const at = this.#clock.now() + delay;
    if (this.#presenceTimer !== undefined && this.#presenceAt <= at) return;
    this.#clock.clearTimeout(this.#presenceTimer);
    this.#presenceAt = at;
    this.#presenceTimer = this.#clock.setTimeout(() => {
      this.#presenceTimer = undefined;
      this.#presenceAt = Number.POSITIVE_INFINITY;
      void this.#refresh();
    }, delay);
  }

  #stopPresence(): void {
    this.#clock.clearTimeout(this.#presenceTimer);
    this.#presenceTimer = undefined;
    this.#presenceAt = Number.POSITIVE_INFINITY;
  }

  /** One presence call per batch of waiting ids: keeps their places and finds lost hand-offs. */
  async #refresh(): Promise<void> {
    const ids = [...this.#asked.keys()];
    if (ids.length === 0) return;
    let next = this.#waitTtl / 3;
    for (let i = 0; i < ids.length; i += PRESENCE_BATCH) {
      try {
        const reply = (await this.#call('a presence refresh', () =>
          presenceScript.run(this.#redis, this.#keys, [
            ...this.#common,
            this.#owner,
            String(this.#waitTtl),
            ...ids.slice(i, i + PRESENCE_BATCH),
          ]),
        )) as (number | string)[];
        next = Math.min(next, Number(reply[0]));
        for (let j = 1; j + 1 < reply.length; j += 2) {
          const id = String(reply[j]);
          const token = Number(reply[j + 1]);
          if (token === 0) this.#reask(id);
          else this.#confirm(id, token);
        }
      } catch {
        // Unreachable for now: try again at the next refresh (the places last waitTtl).
      }
    }
    if (this.#asked.size > 0) this.#presenceIn(next);
  }

  #renewCall(id: string): Promise<boolean> {
    return this.#call('a lease renewal', () =>
      renewScript.run(
        this.#redis,
        [this.#keys[0] as string, this.#keys[3] as string],
        [id, String(this.#leaseTtl), String(this.#keyTtl)],
      ),
    ).then((ok) => Number(ok) === 1);
  }

  /**
   * A lease confirmed by a request sent at `sentAt`: Redis's expiry is at
   * least `sentAt + leaseTtl`, so the lease is given up locally at 90% of that.
   */
  #grant(id: string, token: number, sentAt: number): RedisLease {
    this.#admitted++;
    const controller = new AbortController();
    const margin = this.#leaseTtl / 10;
    let renewTimer: unknown;
    let lossTimer: unknown;
    let stopped = false;
    const stop = () => {
      if (!stopped && admissions.hasSubscribers) this.#trace.released(lease);
      stopped = true;
      this.#clock.clearTimeout(renewTimer);
      this.#clock.clearTimeout(lossTimer);
      this.#leases.delete(lease);
      if (this.#leases.size === 0 && this.#idle.length > 0) {
        for (const resolve of this.#idle.splice(0)) resolve();
      }
    };
    const lose = (message: string) => {
      if (stopped) return;
      this.#lost++;
      lease.lose(message);
      stop();
      this.#leave(id); // if Redis still has it, it goes to the next waiter now
    };
    const confirmed = (at: number) => {
      this.#clock.clearTimeout(lossTimer);
      lossTimer = this.#clock.setTimeout(
        () =>
          lose(
            `Lease ${token} of Redis semaphore could not be renewed within ${this.#leaseTtl - margin} ms (Redis unreachable or slow)`,
          ),
        Math.max(0, at + this.#leaseTtl - margin - this.#clock.now()),
        false,
      );
    };
    const renew = async () => {
      if (stopped) return;
      const at = this.#clock.now();
      renewTimer = this.#clock.setTimeout(renew, this.#leaseTtl / 3, false);
      try {
        const ok = await this.#renewCall(id);
        if (stopped) return;
        if (ok) confirmed(at);
        else lose(`Lease ${token} of Redis semaphore expired before it was renewed`);
      } catch {
        // Unreachable: the next renewal tries again; the loss deadline ends the lease.
      }
    };
    const lease = new RedisLease(token, controller, async () => {
      const wasStopped = stopped;
      stop();
      if (wasStopped) return;
      try {
        await this.#leaveCall(id);
      } catch {
        // Unreachable Redis: the lease expires by itself within leaseTtl.
      }
    });
    this.#leases.add(lease);
    renewTimer = this.#clock.setTimeout(renew, this.#leaseTtl / 3, false);
    confirmed(sentAt);
    return lease;
  }

  /** A waiter left by abort or deadline: leave the Redis-side queue; stop refreshing when none waits. */
  #left(waiter: Waiter): void {
    const id = waiter.data as string;
    if (this.#asked.delete(id)) this.#leave(id);
    if (this.#waiters.size === 0) this.#stopPresence();
  }

  /** Leave the queue, or give back a permit handed to `id`; best effort, fire and forget. */
  #leave(id: string): void {
    this.#leaveCall(id).catch(() => {
      // Unreachable: the queue place expires after waitTtl, a permit after its claim.
    });
  }

  #leaveCall(id: string): Promise<unknown> {
    let sent: Promise<unknown> | undefined;
    const call = this.#call('a release', () => {
      sent = leaveScript.run(this.#redis, this.#keys, [...this.#common, id]);
      return sent;
    });
    // close() waits for the command itself, not its deadline: a release that timed out here
    // still runs once Redis answers again, unless the client is closed before.
    if (sent !== undefined) {
      const pending = sent;
      this.#leaving.add(pending);
      const forget = () => this.#leaving.delete(pending);
      pending.then(forget, forget);
    }
    return call;
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
