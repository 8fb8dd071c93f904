/** A summary of durations in ms. */
export interface HistogramSummary {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/**
 * Durations in log-spaced buckets (about 4% wide, from 1 µs to ~1 day):
 * O(1) record, fixed memory, percentiles accurate to a bucket. Internal.
 */
export class Histogram {
  static readonly #BASE = 1.04;
  static readonly #MIN = 0.001; // 1 µs
  readonly #counts = new Float64Array(600);
  #count = 0;
  #sum = 0;
  #max = 0;

  record(ms: number): void {
    const value = Math.max(ms, Histogram.#MIN);
    const index = Math.min(
      this.#counts.length - 1,
      Math.floor(Math.log(value / Histogram.#MIN) / Math.log(Histogram.#BASE)),
    );
    this.#counts[index] = (this.#counts[index] as number) + 1;
    this.#count++;
    this.#sum += ms;
    if (ms > this.#max) this.#max = ms;
  }

  summary(): HistogramSummary {
    return {
      count: this.#count,
      mean: this.#count === 0 ? 0 : this.#sum / this.#count,
      p50: this.#percentile(0.5),
      p90: this.#percentile(0.9),
      p99: this.#percentile(0.99),
      max: this.#max,
    };
  }

  #percentile(q: number): number {
    if (this.#count === 0) return 0;
    const rank = q * this.#count;
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i] as number;
      if (seen >= rank) return Math.min(this.#max, Histogram.#MIN * Histogram.#BASE ** (i + 1));
    }
    return this.#max;
  }
}
