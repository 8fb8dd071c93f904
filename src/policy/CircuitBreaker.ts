import type { Backoff } from '../core/backoff.js';
import { type Clock, systemClock } from '../core/clock.js';
import { Emitter } from '../core/Emitter.js';
import { checkCount, checkFunction, checkMs, checkRenamed, show } from '../core/validate.js';
import { type BreakerStrategy, consecutiveFailures } from './breakers.js';
import { CircuitOpenError } from './errors.js';
import { contextOf, type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';

export type CircuitState = 'closed' | 'open' | 'half-open' | 'isolated';

/** Options of {@link circuitBreaker}. */
export interface CircuitBreakerOptions {
  /** When a closed circuit opens. @default consecutiveFailures(5) */
  readonly breaker?: BreakerStrategy;
  /**
   * How long the circuit stays open before letting probes through: a number
   * of ms, or a backoff over the number of consecutive openings (so a
   * downstream that stays down is probed less and less often). @default 10000
   */
  readonly openDuration?: number | Backoff;
  /** Calls let through while half-open; all must succeed to close. An integer >= 1. @default 1 */
  readonly halfOpenProbes?: number;
  /** Which errors count as failures. The caller's abort never does. @default every error */
  readonly isFailure?: (error: unknown) => boolean;
  /** State to start from (from `snapshot()`, e.g. saved across a restart). */
  readonly initialState?: CircuitSnapshot;
  /** @default systemClock */
  readonly clock?: Clock;
  /** For a backing-off `openDuration`. @default Math.random */
  readonly random?: () => number;
}

/** A serializable picture of a breaker (JSON-safe). */
export interface CircuitSnapshot {
  readonly state: CircuitState;
  /** Ms the circuit still stays open (open state). */
  readonly openFor: number;
  /** Openings in a row without a successful close. */
  readonly openings: number;
  readonly breaker: unknown;
}

export interface CircuitBreakerEvents extends Record<string, unknown> {
  stateChange: { readonly from: CircuitState; readonly to: CircuitState };
  /** A call was refused because the circuit is not closed. */
  rejected: { readonly state: CircuitState };
  success: { readonly duration: number };
  failure: { readonly duration: number; readonly error: unknown };
}

export interface CircuitBreakerStats {
  readonly state: CircuitState;
  readonly calls: number;
  readonly successes: number;
  readonly failures: number;
  readonly rejected: number;
  readonly opened: number;
}

/**
 * A circuit breaker: closed (calls pass and are counted), open (calls are
 * refused at once with `CircuitOpenError` until `openDuration` has passed),
 * half-open (`halfOpenProbes` calls pass; all succeed: closed, one fails:
 * open again, for longer if `openDuration` is a backoff), isolated (open by hand
 * until `reset()` or the handle of `isolate()` is disposed).
 */
export class CircuitBreakerPolicy extends Emitter<CircuitBreakerEvents> implements Policy {
  readonly #strategy: BreakerStrategy;
  readonly #openDuration: number | Backoff;
  readonly #probes: number;
  readonly #isFailure: (error: unknown) => boolean;
  readonly #clock: Clock;
  readonly #random: () => number;
  #state: CircuitState = 'closed';
  #openUntil = 0;
  #openings = 0;
  #lastOpenMs = 0;
  #probesInFlight = 0;
  #probeSuccesses = 0;
  #calls = 0;
  #successes = 0;
  #failures = 0;
  #rejected = 0;
  #opened = 0;

  constructor(options: CircuitBreakerOptions = {}) {
    super();
    const breaker = options.breaker as Partial<BreakerStrategy> | undefined;
    if (
      breaker !== undefined &&
      (typeof breaker !== 'object' ||
        breaker === null ||
        typeof breaker.record !== 'function' ||
        typeof breaker.reset !== 'function' ||
        typeof breaker.snapshot !== 'function' ||
        typeof breaker.restore !== 'function')
    ) {
      throw new TypeError(
        `Expected \`breaker\` to be a breaker strategy (consecutiveFailures(), countWindow(), timeWindow()), got ${show(breaker)}`,
      );
    }
    this.#strategy = options.breaker ?? consecutiveFailures(5);
    checkRenamed(options, { openMs: 'openDuration' });
    const openDuration = options.openDuration ?? 10_000;
    if (typeof openDuration === 'function') this.#openDuration = openDuration;
    else this.#openDuration = checkMs('openDuration', openDuration);
    this.#probes = checkCount('halfOpenProbes', options.halfOpenProbes ?? 1, 1, false);
    if (options.isFailure !== undefined) checkFunction('isFailure', options.isFailure);
    this.#isFailure = options.isFailure ?? (() => true);
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? Math.random;
    if (options.initialState !== undefined) this.#restore(options.initialState);
  }

  get state(): CircuitState {
    if (this.#state === 'open' && this.#clock.now() >= this.#openUntil) return 'half-open';
    return this.#state;
  }

  stats(): CircuitBreakerStats {
    return {
      state: this.state,
      calls: this.#calls,
      successes: this.#successes,
      failures: this.#failures,
      rejected: this.#rejected,
      opened: this.#opened,
    };
  }

  /** A JSON-safe picture of the breaker; pass it as `initialState` to restore it. */
  snapshot(): CircuitSnapshot {
    const state = this.#state === 'half-open' ? 'open' : this.#state; // probes in flight are not carried over
    return {
      state,
      openFor: state === 'open' ? Math.max(0, this.#openUntil - this.#clock.now()) : 0,
      openings: this.#openings,
      breaker: this.#strategy.snapshot(),
    };
  }

  /** Open the circuit by hand until `reset()` or the returned function is called. */
  isolate(): () => void {
    this.#transition('isolated');
    return () => {
      if (this.#state === 'isolated') this.reset();
    };
  }

  /** Close the circuit and forget its counts. */
  reset(): void {
    this.#strategy.reset();
    this.#openings = 0;
    this.#probesInFlight = 0;
    this.#probeSuccesses = 0;
    this.#transition('closed');
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    let probe = false;
    if (this.#state !== 'closed') {
      const now = this.#clock.now();
      if (this.#state === 'open' && now >= this.#openUntil) this.#transition('half-open');
      if ((this.#state as CircuitState) === 'half-open' && this.#probesInFlight < this.#probes) {
        probe = true;
        this.#probesInFlight++;
      } else {
        return Promise.reject(this.#refuse(now));
      }
    }
    this.#calls++;
    // The clock is read only when something needs a duration or the time.
    const strategy = this.#strategy;
    const timed =
      strategy.usesTime ||
      strategy.slowCallDuration !== Number.POSITIVE_INFINITY ||
      this.listens('success') ||
      this.listens('failure');
    const started = timed ? this.#clock.now() : 0;
    return invoke(fn, contextOf(options)).then(
      (value) => {
        this.#record(false, timed, started, probe, undefined);
        return value;
      },
      (error: unknown) => {
        if (!options?.signal?.aborted && this.#isFailure(error)) this.#record(true, timed, started, probe, error);
        else if (probe) this.#probesInFlight--;
        throw error;
      },
    );
  }

  #refuse(now: number): CircuitOpenError {
    this.#rejected++;
    const state = this.#state;
    if (this.listens('rejected')) this.notify('rejected', { state });
    const retryAfter =
      state === 'isolated' ? Number.POSITIVE_INFINITY : state === 'open' ? Math.ceil(this.#openUntil - now) : 0;
    return new CircuitOpenError(
      state === 'isolated'
        ? 'Circuit is isolated'
        : state === 'open'
          ? `Circuit is open (retry in ${retryAfter} ms)`
          : `Circuit is half-open (${this.#probesInFlight}/${this.#probes} probes in flight)`,
      retryAfter,
    );
  }

  #record(failure: boolean, timed: boolean, started: number, probe: boolean, error: unknown): void {
    const now = timed ? this.#clock.now() : 0;
    const duration = now - started;
    if (failure) {
      this.#failures++;
      if (this.listens('failure')) this.notify('failure', { duration, error });
    } else {
      this.#successes++;
      if (this.listens('success')) this.notify('success', { duration });
    }
    if (probe) {
      this.#probesInFlight--;
      if (this.#state !== 'half-open') return; // reset or isolated meanwhile
      if (failure) this.#open(this.#clock.now());
      else if (++this.#probeSuccesses >= this.#probes) {
        this.#strategy.reset();
        this.#openings = 0;
        this.#transition('closed');
      }
      return;
    }
    if (this.#state !== 'closed') return;
    if (this.#strategy.record(failure, duration > this.#strategy.slowCallDuration, now)) {
      this.#open(timed ? now : this.#clock.now());
    }
  }

  #open(now: number): void {
    this.#openings++;
    const openDuration =
      typeof this.#openDuration === 'number'
        ? this.#openDuration
        : this.#openDuration({ attempt: this.#openings, previousDelay: this.#lastOpenMs, random: this.#random });
    this.#lastOpenMs = openDuration;
    this.#openUntil = now + openDuration;
    this.#opened++;
    this.#transition('open');
  }

  #transition(to: CircuitState): void {
    const from = this.#state;
    if (to === 'half-open' || to === 'closed') {
      this.#probesInFlight = 0;
      this.#probeSuccesses = 0;
    }
    if (from === to) return;
    this.#state = to;
    this.notify('stateChange', { from, to });
  }

  #restore(snapshot: CircuitSnapshot): void {
    const states: CircuitState[] = ['closed', 'open', 'half-open', 'isolated'];
    if (typeof snapshot !== 'object' || snapshot === null || !states.includes(snapshot.state)) {
      throw new TypeError(`Expected \`initialState\` to be a snapshot from \`snapshot()\`, got ${show(snapshot)}`);
    }
    this.#strategy.restore(snapshot.breaker);
    this.#openings = snapshot.openings;
    this.#state = snapshot.state === 'half-open' ? 'open' : snapshot.state;
    this.#openUntil = this.#clock.now() + snapshot.openFor;
  }
}

/** A circuit breaker: `circuitBreaker({ breaker: countWindow({ size: 20 }), openDuration: 30_000 })`. */
export function circuitBreaker(options?: CircuitBreakerOptions): CircuitBreakerPolicy {
  return new CircuitBreakerPolicy(options);
}
