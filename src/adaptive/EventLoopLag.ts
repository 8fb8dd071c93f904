import { monitorEventLoopDelay } from 'node:perf_hooks';
import { type Clock, systemClock } from '../core/clock.js';
import { checkMs, checkRenamed, show } from '../core/validate.js';

/** What EventLoopLag reads: the shape of `perf_hooks.monitorEventLoopDelay()` (nanoseconds). */
export interface LagHistogram {
  enable(): void;
  disable(): void;
  reset(): void;
  percentile(p: number): number;
  readonly max: number;
}

/** Options of {@link EventLoopLag}. */
export interface EventLoopLagOptions {
  /** Sampling resolution of `monitorEventLoopDelay`, in ms. @default 10 */
  readonly resolution?: number;
  /** Lag is judged over windows of this length (the last full window). @default 1000 */
  readonly window?: number;
  /** `overloaded()` is true while the last window's p99 lag exceeds this. @default 100 */
  readonly threshold?: number;
  /** The histogram to read. @default monitorEventLoopDelay({ resolution }) */
  readonly histogram?: LagHistogram;
  /** @default systemClock */
  readonly clock?: Clock;
}

/**
 * How late the event loop runs (`perf_hooks.monitorEventLoopDelay`), judged
 * over rolling windows. `overloaded` plugs into `AdaptiveLimiter({ overloaded })`
 * to refuse new work while the process itself is saturated. Its timer does
 * not keep the process alive; `close()` stops it.
 */
export class EventLoopLag {
  readonly #histogram: LagHistogram;
  readonly #threshold: number;
  readonly #window: number;
  readonly #clock: Clock;
  #timer: unknown;
  #closed = false;
  #p99 = 0;
  #max = 0;

  constructor(options: EventLoopLagOptions = {}) {
    const resolution = checkMs('resolution', options.resolution ?? 10, false);
    if (resolution < 1) {
      throw new RangeError(`Expected \`resolution\` to be a number of milliseconds >= 1, got ${show(resolution)}`);
    }
    checkRenamed(options, { windowMs: 'window', thresholdMs: 'threshold' });
    this.#window = checkMs('window', options.window ?? 1000, false);
    this.#threshold = checkMs('threshold', options.threshold ?? 100);
    this.#histogram = options.histogram ?? monitorEventLoopDelay({ resolution: Math.round(resolution) });
    this.#clock = options.clock ?? systemClock;
    this.#histogram.enable();
    this.#timer = this.#clock.setTimeout(() => this.#roll(), this.#window, false);
  }

  /** p99 lag of the last full window, in ms. */
  get p99(): number {
    return this.#p99;
  }
  /** Max lag of the last full window, in ms. */
  get max(): number {
    return this.#max;
  }

  /** True while the last window's p99 lag exceeds `threshold`. Bound: pass it as it is. */
  readonly overloaded = (): boolean => this.#p99 > this.#threshold;

  /** Stop measuring (the timer and the histogram). Idempotent; resolves at once. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      this.#clock.clearTimeout(this.#timer);
      this.#histogram.disable();
    }
    return Promise.resolve();
  }

  /** The same as `close()`: a monitor has nothing to finish. */
  destroy(): Promise<void> {
    return this.close();
  }

  get closed(): boolean {
    return this.#closed;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #roll(): void {
    this.#p99 = this.#histogram.percentile(99) / 1e6;
    this.#max = this.#histogram.max / 1e6;
    this.#histogram.reset();
    if (!this.#closed) this.#timer = this.#clock.setTimeout(() => this.#roll(), this.#window, false);
  }
}
