/**
 * Counters over a sliding window of `window`, kept in `buckets` buckets
 * (O(buckets) memory; the window slides one bucket at a time, from the first
 * time it is used). Several series share the buckets, e.g. calls and retries.
 * Callers pass the time, so the owner's clock (or a sample's time) decides.
 * Internal.
 */
export class WindowCounters {
  #series: Float64Array[];
  #sums: number[];
  readonly #bucketLength: number;
  readonly #buckets: number;
  #bucket = 0;
  #bucketStart = Number.NaN;

  constructor(window: number, series: number, buckets = 10) {
    this.#buckets = buckets;
    this.#bucketLength = window / buckets;
    this.#series = Array.from({ length: series }, () => new Float64Array(buckets));
    this.#sums = this.#series.map(() => 0);
  }

  add(series: number, now: number, n = 1): void {
    this.#rotate(now);
    const counts = this.#series[series] as Float64Array;
    counts[this.#bucket] = (counts[this.#bucket] as number) + n;
    this.#sums[series] = (this.#sums[series] as number) + n;
  }

  /** The series' total over the window ending at `now`. */
  sum(series: number, now: number): number {
    this.#rotate(now);
    return this.#sums[series] as number;
  }

  reset(): void {
    this.#series = this.#series.map(() => new Float64Array(this.#buckets));
    this.#sums = this.#series.map(() => 0);
    this.#bucketStart = Number.NaN;
  }

  /** JSON-safe counts (the window restarts on restore: bucket times are not portable). */
  snapshot(): { series: number[][]; bucket: number } {
    return { series: this.#series.map((counts) => [...counts]), bucket: this.#bucket };
  }

  restore(state: { series: number[][]; bucket: number }): void {
    this.#series = state.series.map((counts) => Float64Array.from(counts));
    this.#sums = this.#series.map((counts) => counts.reduce((a, b) => a + b, 0));
    this.#bucket = state.bucket;
    this.#bucketStart = Number.NaN;
  }

  #rotate(now: number): void {
    if (Number.isNaN(this.#bucketStart)) {
      this.#bucketStart = now;
      return;
    }
    let steps = Math.floor((now - this.#bucketStart) / this.#bucketLength);
    if (steps <= 0) return;
    this.#bucketStart += steps * this.#bucketLength;
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
