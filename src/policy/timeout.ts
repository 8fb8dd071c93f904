import { type Clock, systemClock } from '../core/clock.js';
import { TimeoutError } from '../core/errors.js';
import { checkMs, show } from '../core/validate.js';
import { Listeners } from './Listeners.js';
import { type ExecuteOptions, invoke, type Policy, type Work } from './Policy.js';
import { childController } from './sleep.js';

/** Options of {@link timeout}. */
export interface TimeoutOptions {
  /**
   * `'cooperative'`: at the deadline the work's signal aborts and the call
   * waits for the work to stop, then rejects with `TimeoutError` (nothing
   * keeps running behind the caller's back). `'aggressive'`: the call rejects
   * at the deadline; the work's signal aborts too, but the work is not awaited.
   * @default 'cooperative'
   */
  readonly mode?: 'cooperative' | 'aggressive';
  /** @default systemClock */
  readonly clock?: Clock;
}

export interface TimeoutEvents extends Record<string, unknown> {
  timeout: { readonly ms: number };
}

export interface TimeoutStats {
  readonly calls: number;
  readonly timedOut: number;
}

/**
 * A deadline per call. Each call gets its own signal (derived from the
 * caller's), so one call timing out aborts that call's work and no other.
 */
export class TimeoutPolicy implements Policy {
  readonly ms: number;
  readonly #aggressive: boolean;
  readonly #clock: Clock;
  readonly #listeners = new Listeners<TimeoutEvents>();
  #calls = 0;
  #timedOut = 0;

  constructor(ms: number, options: TimeoutOptions = {}) {
    this.ms = checkMs('ms', ms);
    const mode = options.mode ?? 'cooperative';
    if (mode !== 'cooperative' && mode !== 'aggressive') {
      throw new TypeError(`Expected \`mode\` to be 'cooperative' or 'aggressive', got ${show(mode)}`);
    }
    this.#aggressive = mode === 'aggressive';
    this.#clock = options.clock ?? systemClock;
  }

  on<K extends keyof TimeoutEvents>(name: K, listener: (payload: TimeoutEvents[K]) => void): () => void {
    return this.#listeners.on(name, listener);
  }

  stats(): TimeoutStats {
    return { calls: this.#calls, timedOut: this.#timedOut };
  }

  execute<T>(fn: Work<T>, options?: ExecuteOptions): Promise<T> {
    const parent = options?.signal;
    if (parent?.aborted) return Promise.reject(parent.reason);
    this.#calls++;
    const { controller, unlink } = childController(parent);
    const clock = this.#clock;
    const started = clock.now();
    const ms = this.ms;
    return new Promise<T>((resolve, reject) => {
      let deadline: TimeoutError | undefined;
      let settled = false;
      const timer =
        ms === Number.POSITIVE_INFINITY
          ? undefined
          : clock.setTimeout(() => {
              deadline = new TimeoutError(`Timed out after ${ms} ms`);
              this.#timedOut++;
              this.#listeners.emit('timeout', { ms });
              controller.abort(deadline);
              if (this.#aggressive) finish(() => reject(deadline));
            }, ms);
      const finish = (settle: () => void) => {
        if (settled) return;
        settled = true;
        if (timer !== undefined) clock.clearTimeout(timer);
        unlink();
        settle();
      };
      invoke(fn, { signal: controller.signal, attempt: options?.attempt ?? 1 }).then(
        (value) => finish(() => (deadline === undefined ? resolve(value) : reject(this.#late(deadline, started)))),
        (error: unknown) =>
          finish(() => {
            // The caller's own abort wins over the deadline it caused nothing to do with.
            if (deadline === undefined || parent?.aborted) reject(error);
            else reject(this.#late(deadline, started, error));
          }),
      );
    });
  }

  /** The cooperative outcome: the deadline passed, and the work stopped this much later. */
  #late(deadline: TimeoutError, started: number, cause?: unknown): TimeoutError {
    const elapsed = Math.round(this.#clock.now() - started);
    if (elapsed <= this.ms) return deadline;
    return new TimeoutError(`Timed out after ${this.ms} ms (the work stopped after ${elapsed} ms)`, { cause });
  }
}

/** A deadline per call: `timeout(5000)` or `timeout(5000, { mode: 'aggressive' })`. */
export function timeout(ms: number, options?: TimeoutOptions): TimeoutPolicy {
  return new TimeoutPolicy(ms, options);
}
