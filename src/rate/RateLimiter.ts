/**
 * Long file: one class, per-key state with its eviction, FIFO waiting with
 * one timer per key and admission times predicted on arrival; the options
 * and results (types.ts), the rules (core/Rule.ts) and the keyed view live
 * beside it.
 */
import { type Admission, type Lifecycle, type RunContext, runLeased } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { Permit, PermitCounter } from '../core/Permit.js';
import { checkRateKey, checkRateWeight, maxWeight, type NormalizedLimit, normalizeLimits } from '../core/RateLimit.js';
import { type Rule, ruleFor } from '../core/Rule.js';
import { admissions, Trace } from '../core/trace.js';
import { checkCount, checkFunction, checkMs, checkName, checkSignal, show } from '../core/validate.js';
import { WaitCounters, Waiters } from '../core/Waiters.js';
import { KeyedRateLimiter } from './KeyedRateLimiter.js';
import type {
  RateAcquireOptions,
  RateDecision,
  RateKey,
  RateLimiterOptions,
  RateLimiterStats,
  RateTryOptions,
} from './types.js';

export { KeyedRateLimiter } from './KeyedRateLimiter.js';
export type {
  RateAcquireOptions,
  RateDecision,
  RateKey,
  RateLimiterOptions,
  RateLimiterStats,
  RateTryOptions,
} from './types.js';

/** Whole ms, ignoring float noise (33.0000001 is 33: the rules treat it as conforming too). */
function ceil(ms: number): number {
  return Math.max(0, Math.ceil(ms - 1e-6));
}

/** Rate permits hold nothing: releasing one is a no-op (the time slot is spent). */

class KeyState {
  /** Present while calls wait on this key (a waiter's `weight` is its cost). */
  queue: Waiters | undefined = undefined;
  /** The one timer of this key: when the head of its queue conforms. */
  timer: unknown = undefined;
  /** The states once every queued call has been admitted at its predicted time. */
  future: unknown[] | undefined = undefined;
  /** Predicted admission time of the last queued call. */
  tailAt = 0;
  /**
   * A queued call left early, so `future` over-estimates: predictions are
   * upper bounds until the queue empties.
   */
  stale = false;
  constructor(
    readonly key: RateKey | undefined,
    readonly states: unknown[],
  ) {}
}

/**
 * Rate limits (GCRA by default, token bucket, sliding-window log), one or
 * several at once, optionally per key, speaking the admission protocol.
 *
 * Fairness: per key, waiting calls are admitted in arrival order; a heavy call
 * at the head is not overtaken. `tryAcquire` and `consume` never jump a queue.
 *
 * No timer per waiter: each key with waiting calls has one timer, for the
 * moment its head conforms. Because admission is FIFO and the rules are
 * deterministic, the limiter knows when a new waiting call will be admitted
 * the moment it arrives; a call whose `timeout` ends before that is refused at
 * once. (After a waiting call is aborted, predictions become upper bounds, and
 * a call whose bound exceeds its timeout gets its own timer until the queue
 * next empties.)
 *
 * Keys: state is kept per key and evicted once it is back to "full" (as if
 * the key had never been used), so eviction never changes a decision. Each
 * call checks two keys, so memory follows the keys active within about one
 * `interval`, not every key ever seen.
 *
 * Cancel safety: aborting a waiting call removes it and lets the calls behind
 * it move up. A permit that was granted is spent; `release()` is a no-op.
 */
export class RateLimiter implements Admission<Permit, RateAcquireOptions>, Lifecycle {
  /** Leases out now: granted and not yet released (a rate limit's lease is spent at once; `release()` only ends `run`). */
  readonly #leases = new PermitCounter();
  readonly #rules: Rule[];
  readonly #limits: readonly NormalizedLimit[];
  readonly #maxWeight: number;
  readonly #maxWaiting: number;
  readonly #clock: Clock;
  readonly #keys = new Map<RateKey | undefined, KeyState>();
  #cursor: IterableIterator<KeyState> = this.#keys.values();
  /** The key state the previous call used; never evicted while it is this. */
  #last: KeyState | undefined = undefined;
  #closed = false;
  #closeReason: unknown = undefined;
  #waiting = 0;
  #admitted = 0;
  #denied = 0;
  /** Refused at once because the predicted admission lies past the timeout. */
  #timedOutNow = 0;
  /** Early exits of waits, over every key's queue. */
  readonly #counters = new WaitCounters();
  #rejected = 0;
  readonly #trace: Trace;

  constructor(options: RateLimiterOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with \`limits\`, got ${show(options)}`);
    }
    this.#limits = normalizeLimits(options.limits);
    this.#rules = this.#limits.map(ruleFor);
    this.#maxWeight = maxWeight(this.#limits);
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    this.#clock = options.clock ?? systemClock;
    this.#trace = new Trace(this, 'RateLimiter', checkName(options.name, 'RateLimiter'), this.#clock);
    this.#leases.trace = this.#trace;
  }

  /** The limits in force, with defaults filled in. */
  get limits(): readonly NormalizedLimit[] {
    return this.#limits;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): RateLimiterStats {
    return {
      running: this.#leases.running,
      waiting: this.#waiting,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#timedOutNow + this.#counters.timedOut,
      aborted: this.#counters.aborted,
      keys: this.#keys.size,
      denied: this.#denied,
    };
  }

  /** The same limiter bound to one key. */
  for(key: RateKey): KeyedRateLimiter {
    return new KeyedRateLimiter(this, key);
  }

  /** Wait for admission. See the class notes for fairness, timeouts and cancel safety. */
  acquire(options?: RateAcquireOptions): Promise<Permit> {
    const admission = this.#admit(options);
    return admission instanceof Permit ? Promise.resolve(admission) : admission;
  }

  /** A permit now, or the promise of one (validation errors throw). */
  #admit(options: RateAcquireOptions | undefined): Permit | Promise<Permit> {
    let key: RateKey | undefined;
    let cost = 1;
    let timeout = Number.POSITIVE_INFINITY;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      key = this.#checkKey(options.key);
      if (options.weight !== undefined) cost = this.#checkWeight(options.weight);
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      signal = checkSignal('signal', options.signal);
    }
    if (this.#closed) {
      this.#rejected++;
      return this.#refuse(this.#closedError());
    }
    if (signal?.aborted) {
      this.#counters.aborted++;
      if (admissions.hasSubscribers) this.#trace.rejected(signal.reason, undefined, 'aborted');
      return Promise.reject(signal.reason);
    }
    const now = this.#clock.now();
    const state = this.#state(key, now);
    let at: number;
    let ownTimer = false;
    if (state.queue === undefined) {
      const wait = this.#wait(state.states, now, cost);
      if (wait === 0) return this.#lend(state, now, cost);
      at = now + wait;
    } else {
      const from = Math.max(now, state.tailAt);
      at = from + this.#wait(state.future as unknown[], from, cost);
      if (at - now > timeout) ownTimer = state.stale;
    }
    if (at - now > timeout && !ownTimer) {
      this.#timedOutNow++;
      return this.#refuse(
        new TimeoutError(
          `Rate limit admission in ${ceil(at - now)} ms exceeds the timeout of ${timeout} ms (${this.#describe(state)})`,
        ),
      );
    }
    const queued = state.queue?.size ?? 0;
    if (queued >= this.#maxWaiting) {
      this.#rejected++;
      return this.#refuse(
        new QueueFullError(`Rate limiter queue is full (${queued}/${this.#maxWaiting} waiting${this.#keyText(key)})`),
      );
    }
    if (state.queue === undefined) {
      state.queue = this.#queueFor(state);
      state.future = this.#rules.map((rule, i) => rule.clone(state.states[i]));
      state.timer = this.#clock.setTimeout(() => this.#drain(state), Math.ceil(at - now));
    }
    this.#take(state.future as unknown[], at, cost);
    state.tailAt = at;
    this.#waiting++;
    // A timer only when the predicted admission cannot be trusted (see the class notes).
    return state.queue.wait<Permit>(
      cost,
      0,
      undefined,
      undefined,
      signal,
      ownTimer ? timeout : Number.POSITIVE_INFINITY,
    );
  }

  /** The wait queue of a key that starts having waiters: the engine, told how a waiter leaves early. */
  #queueFor(state: KeyState): Waiters {
    return new Waiters(
      {
        left: (_waiter, wasFirst) => {
          this.#waiting--;
          const queue = state.queue as Waiters;
          if (queue.size === 0) {
            this.#clock.clearTimeout(state.timer);
            this.#reset(state);
            return;
          }
          state.stale = true;
          if (wasFirst) {
            this.#clock.clearTimeout(state.timer);
            this.#drain(state);
          }
        },
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(`Rate limit wait timed out after ${timeout} ms (${this.#describe(state)})`),
      },
      this.#clock,
      this.#counters,
      this.#trace,
    );
  }

  /** Admission now: the limits taken, a lease for it. */
  #lend(state: KeyState, now: number, cost: number): Permit {
    this.#take(state.states, now, cost);
    this.#admitted++;
    const permit = this.#leases.issue(cost);
    if (admissions.hasSubscribers) this.#trace.admitted(permit);
    return permit;
  }

  /** A refusal at once (closed, past the timeout, queue full), told on the admission channel. */
  #refuse(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  /** Admission now, or `undefined`. Never jumps ahead of a waiting call of the same key. */
  tryAcquire(options?: RateTryOptions): Permit | undefined {
    const cost = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    const key = options === undefined ? undefined : this.#checkKey(options.key);
    if (this.#closed) return undefined;
    const now = this.#clock.now();
    const state = this.#state(key, now);
    if (state.queue === undefined && this.#wait(state.states, now, cost) === 0) return this.#lend(state, now, cost);
    this.#denied++;
    return undefined;
  }

  /**
   * Admission now or not, with what an HTTP server needs to answer either way
   * (`retryAfter`, `remaining`, `resetAfter`; see `rateLimitHeaders`). Never
   * waits and never jumps a queue: while calls wait on the key, `retryAfter`
   * is when this call would be admitted behind them.
   */
  consume(options?: RateTryOptions): RateDecision {
    const cost = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    const key = options === undefined ? undefined : this.#checkKey(options.key);
    if (this.#closed) {
      this.#denied++;
      const first = this.#limits[0] as NormalizedLimit;
      return { allowed: false, retryAfter: Number.POSITIVE_INFINITY, remaining: 0, limit: first.limit, resetAfter: 0 };
    }
    const now = this.#clock.now();
    const state = this.#state(key, now);
    let wait: number;
    if (state.queue === undefined) {
      wait = this.#wait(state.states, now, cost);
      if (wait === 0) {
        this.#take(state.states, now, cost);
        this.#admitted++;
      }
    } else {
      const from = Math.max(now, state.tailAt);
      wait = from + this.#wait(state.future as unknown[], from, cost) - now;
      if (wait === 0) wait = Number.MIN_VALUE; // queued calls go first
    }
    if (wait > 0) this.#denied++;
    return this.#decision(state, now, wait);
  }

  /**
   * Acquire, then call `fn({ signal })`. Admitted at once, `fn` starts
   * synchronously; after a wait, in the tick its slot comes (so the work
   * starts at the admitted time, not later). Never starts on an aborted signal.
   */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: RateAcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    const context: RunContext = { signal };
    return runLeased(this.#admit(options), () => fn(context), signal);
  }

  /**
   * Evict every idle key now (normally done a little at a time by each call).
   * Returns how many were evicted.
   */
  evictIdle(): number {
    const now = this.#clock.now();
    let evicted = 0;
    this.#last = undefined;
    for (const state of [...this.#keys.values()]) {
      if (this.#isIdle(state, now)) {
        this.#keys.delete(state.key);
        evicted++;
      }
    }
    return evicted;
  }

  /**
   * Stop admitting: waiting calls reject with `ClosedError` (`SLUICE_CLOSED`),
   * later `acquire` calls reject at once, `tryAcquire` returns `undefined` and
   * `consume` refuses. Idempotent; resolves at once (rate permits hold nothing
   * to wait for).
   */
  close(): Promise<void> {
    return this.destroy();
  }

  /** `close()`, with `reason` as the waiters' `ClosedError` `cause`. */
  destroy(reason?: unknown): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#closeReason = reason;
    const error = this.#closedError();
    for (const state of this.#keys.values()) {
      if (state.queue === undefined) continue;
      const queue = state.queue;
      this.#clock.clearTimeout(state.timer);
      this.#reset(state);
      const rejected = queue.failAll(error);
      this.#rejected += rejected;
      this.#waiting -= rejected;
    }
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #drain(state: KeyState): void {
    state.timer = undefined;
    const queue = state.queue as Waiters;
    const now = this.#clock.now();
    let head = queue.first();
    while (head !== undefined) {
      const wait = this.#wait(state.states, now, head.weight);
      if (wait > 0) {
        state.timer = this.#clock.setTimeout(() => this.#drain(state), Math.ceil(wait));
        return;
      }
      this.#take(state.states, now, head.weight);
      this.#admitted++;
      this.#waiting--;
      queue.grant(head, this.#leases.issue(head.weight));
      head = queue.first();
    }
    this.#reset(state);
  }

  #reset(state: KeyState): void {
    state.queue = undefined;
    state.future = undefined;
    state.timer = undefined;
    state.stale = false;
  }

  #state(key: RateKey | undefined, now: number): KeyState {
    // Sweep before the lookup, so the state this call uses is never the one evicted.
    if (this.#keys.size > 1) this.#sweep(now);
    // Most calls repeat the last key (always, for an unkeyed limiter).
    const last = this.#last;
    if (last !== undefined && last.key === key) return last;
    let state = this.#keys.get(key);
    if (state === undefined) {
      state = new KeyState(
        key,
        this.#rules.map((rule) => rule.create(now)),
      );
      this.#keys.set(key, state);
    }
    this.#last = state;
    return state;
  }

  /** Look at two keys (resuming where the last call stopped) and drop them if idle. */
  #sweep(now: number): void {
    for (let i = 0; i < 2; i++) {
      let next = this.#cursor.next();
      if (next.done) {
        this.#cursor = this.#keys.values();
        next = this.#cursor.next();
        if (next.done) return;
      }
      const state = next.value;
      if (state !== this.#last && this.#isIdle(state, now)) this.#keys.delete(state.key);
    }
  }

  #isIdle(state: KeyState, now: number): boolean {
    if (state.queue !== undefined) return false;
    for (let i = 0; i < this.#rules.length; i++) {
      if ((this.#rules[i] as Rule).resetAfter(state.states[i], now) > 0) return false;
    }
    return true;
  }

  #wait(states: unknown[], now: number, cost: number): number {
    const rules = this.#rules;
    let wait = 0;
    for (let i = 0; i < rules.length; i++) {
      const w = (rules[i] as Rule).wait(states[i], now, cost);
      if (w > wait) wait = w;
    }
    return wait;
  }

  #take(states: unknown[], now: number, cost: number): void {
    const rules = this.#rules;
    for (let i = 0; i < rules.length; i++) (rules[i] as Rule).take(states[i], now, cost);
  }

  #decision(state: KeyState, now: number, wait: number): RateDecision {
    const rules = this.#rules;
    let remaining = Number.POSITIVE_INFINITY;
    let limit = 0;
    let resetAfter = 0;
    for (let i = 0; i < rules.length; i++) {
      const rule = rules[i] as Rule;
      const left = rule.remaining(state.states[i], now);
      if (left < remaining) {
        remaining = left;
        limit = rule.spec.limit;
        resetAfter = rule.resetAfter(state.states[i], now);
      }
    }
    if (state.queue !== undefined) remaining = 0;
    return { allowed: wait === 0, retryAfter: ceil(wait), remaining, limit, resetAfter: ceil(resetAfter) };
  }

  #checkWeight(weight: unknown): number {
    return checkRateWeight(weight, this.#maxWeight);
  }

  #checkKey(key: unknown): RateKey | undefined {
    return checkRateKey(key);
  }

  #keyText(key: RateKey | undefined): string {
    return key === undefined ? '' : ` for key ${show(key)}`;
  }

  #describe(state: KeyState): string {
    const waiting = state.queue?.size ?? 0;
    return `${waiting} waiting${this.#keyText(state.key)}`;
  }

  #closedError(): ClosedError {
    return new ClosedError('Rate limiter is closed', { cause: this.#closeReason });
  }
}
