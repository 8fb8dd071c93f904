// The limit of `--concurrency auto`: in flight = what the service delivers per
// ms at best x its unloaded latency (the bandwidth-delay product, after TCP
// BBR). Latency-threshold algorithms settle wherever the client's own
// overhead crosses their threshold; this one measures the capacity itself:
// past it, more in flight raises latency but not the delivery rate.
import type { LimitAlgorithm, LimitSample } from 'sluice';

export interface DeliveryRateOptions {
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /** Ms over which the lowest latency is kept. @default 10000 */
  readonly rttWindow?: number;
  /** Rounds (about one latency each) over which the best delivery rate is kept. @default 10 */
  readonly rateWindow?: number;
}

/** Gains of the probe cycle, one per round: probe above, drain the queue it made, then cruise. */
const CYCLE = [1.25, 0.75, 1, 1, 1, 1, 1, 1];

export function deliveryRate(options: DeliveryRateOptions): LimitAlgorithm {
  const { min, max } = options;
  const rttWindow = options.rttWindow ?? 10_000;
  const rateWindow = options.rateWindow ?? 10;
  let limit = options.initial;
  let startup = true;
  // Lowest latency of this window and of the one before.
  let minRtt = Number.POSITIVE_INFINITY;
  let previousMinRtt = Number.POSITIVE_INFINITY;
  let rttWindowStart = Number.NaN;
  // The current round: completions since it began.
  let roundStart = Number.NaN;
  let delivered = 0;
  const rates: number[] = [];
  let bestAtCheck = 0;
  let roundsWithoutGrowth = 0;
  let phase = 0;
  // Whole calls, rounded down: one call short of the capacity costs less than a queue.
  const clamp = (n: number) => Math.min(max, Math.max(min, Math.floor(n)));
  const best = () => Math.max(0, ...rates);
  const floor = () => Math.min(minRtt, previousMinRtt);

  function endRound(now: number): void {
    const elapsed = now - roundStart;
    rates.push(delivered / elapsed);
    if (rates.length > rateWindow) rates.shift();
    roundStart = now;
    delivered = 0;
    const bdp = best() * floor();
    if (startup) {
      // Double while the rate still grows by a quarter within three rounds.
      if (best() >= bestAtCheck * 1.25) {
        bestAtCheck = best();
        roundsWithoutGrowth = 0;
      } else if (++roundsWithoutGrowth >= 3) {
        startup = false;
      }
      limit = clamp(startup ? limit * 2 : bdp);
      return;
    }
    phase = (phase + 1) % CYCLE.length;
    limit = clamp(Math.max(min, bdp * (CYCLE[phase] as number)));
  }

  return {
    get limit() {
      return limit;
    },
    update(sample: LimitSample) {
      const { now, rtt } = sample;
      if (Number.isNaN(roundStart)) {
        roundStart = now - rtt;
        rttWindowStart = now;
      }
      if (now - rttWindowStart > rttWindow) {
        previousMinRtt = minRtt;
        minRtt = Number.POSITIVE_INFINITY;
        rttWindowStart = now;
      }
      if (!sample.dropped) {
        minRtt = Math.min(minRtt, rtt);
        delivered++;
      } else {
        // Overloaded: leave startup, and never more in flight than the measured capacity.
        startup = false;
        const bdp = best() * floor();
        if (bdp > 0) limit = clamp(Math.min(limit, bdp));
      }
      if (now - roundStart >= floor() && delivered > 0) endRound(now);
      return limit;
    },
  };
}
