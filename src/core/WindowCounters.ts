import type { Clock } from './clock.js';

/**
 * Counters over a sliding window of `windowMs`, kept in `buckets` buckets
 * (O(buckets) memory; the window slides one bucket at a time). Several
 * series share the buckets, e.g. calls and retries. Internal.
 */
export class WindowCounters {
  readonly #series: Float64Array[];
  readonly #sums: number[];
  readonly #bucketMs: number;
  readonly #buckets: number;
  readonly #clock: Clock;
  #bucket = 0;
  #bucketStart: number;

  constructor(clock: Clock, windowMs: number, series: number, buckets = 10) {
    this.#clock = clock;
    this.#buckets = buckets;
    this.#bucketMs = windowMs / buckets;
    this.#series = Array.from({ length: series }, () => new Float64Array(buckets));
    this.#sums = Array.from({ length: series }, () => 0);
    this.#bucketStart = clock.now();
  }

  add(series: number, n = 1): void {
    this.#rotate();
    const counts = this.#series[series] as Float64Array;
    counts[this.#bucket] = (counts[this.#bucket] as number) + n;
    this.#sums[series] = (this.#sums[series] as number) + n;
  }

  /** The series' total over the window. */
  sum(series: number): number {
    this.#rotate();
    return this.#sums[series] as number;
  }

  #rotate(): void {
    const now = this.#clock.now();
    let steps = Math.floor((now - this.#bucketStart) / this.#bucketMs);
    if (steps <= 0) return;
    this.#bucketStart += steps * this.#bucketMs;
    if (steps > this.#buckets) steps = this.#buckets;
    for (let i = 0; i < steps; i++) {
      this.#bucket = (this.#bucket + 1) % this.#buckets;
      this.#series.forEach((counts, s) => {
        this.#sums[s] = (this.#sums[s] as number) - (counts[this.#bucket] as number);
        counts[this.#bucket] = 0;
      });
    }
  }
}
