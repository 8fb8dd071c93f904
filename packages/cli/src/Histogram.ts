/** Latencies in log-spaced buckets (about 2% wide): quantiles in constant memory. */
export class Histogram {
  readonly #counts = new Float64Array(1200);
  count = 0;

  record(ms: number): void {
    const i = ms <= 0.01 ? 0 : Math.min(1199, Math.ceil(Math.log(ms / 0.01) / Math.log(1.02)));
    this.#counts[i] = (this.#counts[i] as number) + 1;
    this.count++;
  }

  /** The `q` quantile in ms (NaN when empty). */
  quantile(q: number): number {
    if (this.count === 0) return Number.NaN;
    const rank = q * this.count;
    let seen = 0;
    for (let i = 0; i < this.#counts.length; i++) {
      seen += this.#counts[i] as number;
      if (seen >= rank) return 0.01 * 1.02 ** i;
    }
    return 0.01 * 1.02 ** 1199;
  }
}
