import { type Clock, systemClock } from '../core/clock.js';
import { Emitter } from '../core/Emitter.js';
import { checkCount, checkFiniteNumber, checkFunction, checkMs, show } from '../core/validate.js';
import { HedgeLostError } from './errors.js';
import { type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';
import { childController } from './sleep.js';

/** Options of {@link hedge}. */
export interface HedgeOptions {
  /** Start another attempt when the last one has not answered after this many ms. @default 100 */
  readonly delay?: number;
  /**
   * Instead of a fixed delay, the latency percentile observed so far (0.95 =
   * p95 of the last 1000 successful calls); `delay` is used until
   * `minSamples` calls have been seen. A number in (0, 1).
   */
  readonly percentile?: number;
  /** @default 20 */
  readonly minSamples?: number;
  /** Extra attempts at most. An integer >= 1. @default 1 */
  readonly maxHedges?: number;
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface HedgeEvents extends Record<string, unknown> {
  /** Attempt number `attempt` (2 or more) was started. */
  hedge: { readonly attempt: number; readonly delay: number };
}

const WINDOW = 1000;

/**
 * Hedged requests: if the first attempt has not answered after `delay` (or
 * the observed latency percentile), start another; the first success wins and
 * the others are aborted (their signal's reason is a `HedgeLostError`). A
 * failure starts the next hedge at once. Use it only for idempotent work.
 */
export class HedgePolicy extends Emitter<HedgeEvents> implements Policy {
  readonly #delay: number;
  readonly #percentile: number | undefined;
  readonly #minSamples: number;
  readonly #maxHedges: number;
  readonly #clock: Clock;
  readonly #latencies = new Float64Array(WINDOW);
  #samples = 0;
  #calls = 0;
  #hedges = 0;
  #hedgeWins = 0;

  constructor(options: HedgeOptions = {}) {
    super();
    this.#delay = checkMs('delay', options.delay ?? 100);
    if (options.percentile !== undefined) {
      const p = checkFiniteNumber('percentile', options.percentile);
      if (p <= 0 || p >= 1) throw new RangeError(`Expected \`percentile\` to be a number in (0, 1), got ${show(p)}`);
    }
    this.#percentile = options.percentile;
    this.#minSamples = checkCount('minSamples', options.minSamples ?? 20, 1, false);
    this.#maxHedges = checkCount('maxHedges', options.maxHedges ?? 1, 1, false);
    this.#clock = options.clock ?? systemClock;
  }

  stats(): { readonly calls: number; readonly hedges: number; readonly hedgeWins: number; readonly delay: number } {
    return { calls: this.#calls, hedges: this.#hedges, hedgeWins: this.#hedgeWins, delay: this.currentDelay() };
  }

  /** The delay the next call will use. */
  currentDelay(): number {
    if (this.#percentile === undefined || this.#samples < this.#minSamples) return this.#delay;
    const n = Math.min(this.#samples, WINDOW);
    const sorted = this.#latencies.slice(0, n).sort();
    return sorted[Math.min(n - 1, Math.floor(this.#percentile * n))] as number;
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    checkFunction('fn', fn);
    const parent = options?.signal;
    if (parent?.aborted) return Promise.reject(parent.reason);
    this.#calls++;
    const clock = this.#clock;
    const delay = this.currentDelay();
    const started = clock.now();
    const attempts: { controller: AbortController; unlink: () => void }[] = [];
    let running = 0;
    let lastError: unknown;
    let timer: unknown;
    let done = false;
    return new Promise<T>((resolve, reject) => {
      const onParentAbort = () => finish(() => reject((parent as AbortSignal).reason));
      parent?.addEventListener('abort', onParentAbort, { once: true });
      const finish = (settle: () => void) => {
        if (done) return;
        done = true;
        clock.clearTimeout(timer);
        parent?.removeEventListener('abort', onParentAbort);
        for (const attempt of attempts) {
          if (!attempt.controller.signal.aborted)
            attempt.controller.abort(new HedgeLostError('Another attempt answered first'));
          attempt.unlink();
        }
        settle();
      };
      const start = () => {
        const number = attempts.length + 1;
        const link = childController(parent);
        attempts.push(link);
        running++;
        if (number > 1) {
          this.#hedges++;
          this.notify('hedge', { attempt: number, delay });
        }
        invoke(fn, { signal: link.controller.signal, attempt: number }).then(
          (value) => {
            running--;
            if (done) return;
            this.#record(clock.now() - started);
            if (number > 1) this.#hedgeWins++;
            finish(() => resolve(value));
          },
          (error: unknown) => {
            running--;
            if (done) return;
            lastError = error;
            if (attempts.length <= this.#maxHedges) {
              clock.clearTimeout(timer);
              start();
              schedule();
            } else if (running === 0) finish(() => reject(lastError));
          },
        );
      };
      const schedule = () => {
        if (attempts.length > this.#maxHedges) return;
        timer = clock.setTimeout(() => {
          start();
          schedule();
        }, delay);
      };
      start();
      schedule();
    });
  }

  #record(ms: number): void {
    this.#latencies[this.#samples % WINDOW] = ms;
    this.#samples++;
  }
}

/** Start a second attempt when the first is slow; first success wins. */
export function hedge(options?: HedgeOptions): HedgePolicy {
  return new HedgePolicy(options);
}
