import { Deque } from './Deque.js';
import type { NormalizedLimit } from './RateLimit.js';

/**
 * One limit's arithmetic over one key's state. Internal.
 *
 * Every rule is monotone in time: if a request conforms at `t`, it conforms at
 * any later `t' >= t` given no other admission. That is what makes "wait the
 * largest of the rules' waits" exact for several limits at once, and what
 * lets the limiter predict when a queued request will be admitted.
 */
export interface Rule<S = unknown> {
  readonly spec: NormalizedLimit;
  create(now: number): S;
  clone(state: S): S;
  /** Ms until a request of `cost` conforms (0: now). */
  wait(state: S, now: number, cost: number): number;
  /** Record an admission of `cost` at `now`; it must conform. */
  take(state: S, now: number, cost: number): void;
  /** Undo the last `take` of `cost` (an admission that was given back before it was used). */
  untake(state: S, cost: number): void;
  /** Whole units of weight that would be admitted now. */
  remaining(state: S, now: number): number;
  /** Ms until the state is back to "never used" (full burst available). */
  resetAfter(state: S, now: number): number;
}

/**
 * Floating-point slack: `interval / limit` is rarely exact in binary, and a
 * wait of 1e-10 ms must count as "now", or a conforming request at an exact
 * edge would be refused.
 */
const EPSILON = 1e-6;

/**
 * GCRA (the virtual-scheduling form of a leaky bucket): the state is the
 * theoretical arrival time `tat` of the next request. A request of `cost`
 * conforms when `max(tat, now) + cost * T - now <= burst * T`, with
 * `T = interval / limit` (the emission interval).
 */
export class Gcra implements Rule<{ tat: number }> {
  readonly #t: number;
  readonly #tau: number;
  constructor(readonly spec: NormalizedLimit) {
    this.#t = spec.interval / spec.limit;
    this.#tau = spec.burst * this.#t;
  }
  create(): { tat: number } {
    return { tat: Number.NEGATIVE_INFINITY };
  }
  clone(state: { tat: number }): { tat: number } {
    return { tat: state.tat };
  }
  wait(state: { tat: number }, now: number, cost: number): number {
    const wait = Math.max(state.tat, now) + cost * this.#t - this.#tau - now;
    return wait > EPSILON ? wait : 0;
  }
  take(state: { tat: number }, now: number, cost: number): void {
    state.tat = Math.max(state.tat, now) + cost * this.#t;
  }
  untake(state: { tat: number }, cost: number): void {
    state.tat -= cost * this.#t;
  }
  remaining(state: { tat: number }, now: number): number {
    return Math.floor((this.#tau - (Math.max(state.tat, now) - now)) / this.#t + EPSILON);
  }
  resetAfter(state: { tat: number }, now: number): number {
    return Math.max(0, state.tat - now);
  }
}

interface Bucket {
  tokens: number;
  at: number;
}

/** A bucket of `burst` tokens refilled continuously at `limit / interval` per ms. */
export class TokenBucket implements Rule<Bucket> {
  readonly #rate: number;
  constructor(readonly spec: NormalizedLimit) {
    this.#rate = spec.limit / spec.interval;
  }
  create(now: number): Bucket {
    return { tokens: this.spec.burst, at: now };
  }
  clone(state: Bucket): Bucket {
    return { tokens: state.tokens, at: state.at };
  }
  #tokens(state: Bucket, now: number): number {
    return Math.min(this.spec.burst, state.tokens + Math.max(0, now - state.at) * this.#rate);
  }
  wait(state: Bucket, now: number, cost: number): number {
    const missing = cost - this.#tokens(state, now);
    const wait = missing / this.#rate;
    return wait > EPSILON ? wait : 0;
  }
  take(state: Bucket, now: number, cost: number): void {
    state.tokens = this.#tokens(state, now) - cost;
    state.at = Math.max(state.at, now);
  }
  untake(state: Bucket, cost: number): void {
    state.tokens = Math.min(this.spec.burst, state.tokens + cost);
  }
  remaining(state: Bucket, now: number): number {
    return Math.max(0, Math.floor(this.#tokens(state, now) + EPSILON));
  }
  resetAfter(state: Bucket, now: number): number {
    return (this.spec.burst - this.#tokens(state, now)) / this.#rate;
  }
}

interface Log {
  /** Admission times and costs, alternating, oldest first. */
  entries: Deque<number>;
  used: number;
  /** Time of the last admission (when `entries` is not empty). */
  newest: number;
}

/**
 * A log of the admissions in the last `interval` ms: a request conforms when
 * the weight admitted in `(now - interval, now]` plus its own is at most
 * `limit`. Exact for every window, at the price of memory per admission.
 */
export class SlidingWindowLog implements Rule<Log> {
  constructor(readonly spec: NormalizedLimit) {}
  create(): Log {
    return { entries: new Deque<number>(4), used: 0, newest: 0 };
  }
  clone(state: Log): Log {
    const entries = new Deque<number>(state.entries.length);
    for (const value of state.entries) entries.push(value);
    return { entries, used: state.used, newest: state.newest };
  }
  #prune(state: Log, now: number): void {
    const horizon = now - this.spec.interval;
    const entries = state.entries;
    while (entries.length > 0 && (entries.peek() as number) <= horizon) {
      entries.shift();
      state.used -= entries.shift() as number;
    }
  }
  wait(state: Log, now: number, cost: number): number {
    this.#prune(state, now);
    let excess = state.used + cost - this.spec.limit;
    if (excess <= 0) return 0;
    // Walk from the oldest admission until enough weight has left the window.
    let time = 0;
    let isTime = true;
    for (const value of state.entries) {
      if (isTime) time = value;
      else {
        excess -= value;
        if (excess <= 0) return time + this.spec.interval - now;
      }
      isTime = !isTime;
    }
    return Number.POSITIVE_INFINITY; // cost > limit; callers validate against this
  }
  take(state: Log, now: number, cost: number): void {
    this.#prune(state, now);
    state.entries.push(now);
    state.entries.push(cost);
    state.used += cost;
    state.newest = now;
  }
  untake(state: Log, cost: number): void {
    const entries = state.entries;
    if (entries.length === 0) return;
    entries.pop();
    entries.pop();
    state.used -= cost;
    state.newest = entries.length === 0 ? 0 : (entries.at(entries.length - 2) as number);
  }
  remaining(state: Log, now: number): number {
    this.#prune(state, now);
    return this.spec.limit - state.used;
  }
  resetAfter(state: Log, now: number): number {
    this.#prune(state, now);
    return state.entries.length === 0 ? 0 : state.newest + this.spec.interval - now;
  }
}

interface Window {
  /** When the current window ends (it starts at the first admission after the previous one ended). */
  end: number;
  used: number;
}

/**
 * Fixed windows: at most `limit` per window of `interval` ms, a window
 * starting at the first admission after the previous one ended. One number
 * pair per key; up to twice `limit` can pass around a window's edge (use
 * `sliding-window` where that matters).
 */
export class FixedWindow implements Rule<Window> {
  constructor(readonly spec: NormalizedLimit) {}
  create(): Window {
    return { end: Number.NEGATIVE_INFINITY, used: 0 };
  }
  clone(state: Window): Window {
    return { end: state.end, used: state.used };
  }
  wait(state: Window, now: number, cost: number): number {
    if (now >= state.end) return cost <= this.spec.limit ? 0 : Number.POSITIVE_INFINITY;
    return state.used + cost <= this.spec.limit ? 0 : state.end - now;
  }
  take(state: Window, now: number, cost: number): void {
    if (now >= state.end) {
      state.end = now + this.spec.interval;
      state.used = 0;
    }
    state.used += cost;
  }
  untake(state: Window, cost: number): void {
    state.used = Math.max(0, state.used - cost);
  }
  remaining(state: Window, now: number): number {
    return now >= state.end ? this.spec.limit : this.spec.limit - state.used;
  }
  resetAfter(state: Window, now: number): number {
    return Math.max(0, state.end - now);
  }
}

export function ruleFor(spec: NormalizedLimit): Rule {
  switch (spec.algorithm) {
    case 'gcra':
      return new Gcra(spec) as Rule;
    case 'token-bucket':
      return new TokenBucket(spec) as Rule;
    case 'fixed-window':
      return new FixedWindow(spec) as Rule;
    default:
      return new SlidingWindowLog(spec) as Rule;
  }
}
