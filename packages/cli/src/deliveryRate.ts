// The limit of `--concurrency auto`: the smallest concurrency past which the
// service delivers no more. Below the service's capacity, more calls in
// flight deliver proportionally more per second; past it they only queue.
// So the limit climbs the delivery rate: it measures the rate at its limit,
// then tries a step more (kept if the rate rose by 60% of the step or more)
// and a step less (kept if it fell by less than 40% of it), one phase of
// a few latencies each; a kept step doubles the next (up to a quarter), a
// refused one halves it (down to one call), so it closes in on the knee. Latency thresholds, min-RTT and bandwidth-delay estimates all drift
// with noise and with the client's own overhead; a rate that stops growing
// does not.
import type { LimitAlgorithm, LimitSample } from 'sluice';

export interface DeliveryRateOptions {
  readonly initial: number;
  readonly min: number;
  readonly max: number;
  /**
   * Whether the work, not the service, holds the rate down now (calls waiting
   * for a rate limit): a phase measured then is measured again.
   */
  readonly appLimited?: () => boolean;
}

/** Rounds of about one latency per phase; the first is the change settling, the rest are measured. */
const ROUNDS = 5;
/** Completions measured per phase at least: a one-call step of a small limit is a small change to see. */
const SAMPLES = 200;
/** The largest step, as a share of the limit. */
const STEP = 0.25;
/** Overloaded (a drop): the limit shrinks to this share. */
const BACKOFF = 0.8;

type Phase = 'startup' | 'base' | 'up' | 'down';

export function deliveryRate(options: DeliveryRateOptions): LimitAlgorithm {
  const { min, max } = options;
  const clamp = (n: number) => Math.min(max, Math.max(min, Math.round(n)));
  /** The limit in force between probes. */
  let base = clamp(options.initial);
  let limit = base;
  let phase: Phase = 'startup';
  let nextProbe: 'up' | 'down' = 'up';
  let step = STEP;
  let baseRate = 0;
  let smoothedRtt = 0;
  let roundStart = Number.NaN;
  let rounds = 0;
  let measured = 0;
  let runningSum = 0;
  let rttSum = 0;
  let appLimited = false;

  function begin(next: Phase, next_limit: number, now: number): void {
    phase = next;
    limit = clamp(next_limit);
    rounds = 0;
    measured = 0;
    runningSum = 0;
    rttSum = 0;
    roundStart = now;
    appLimited = false;
  }

  function endPhase(now: number): void {
    // Little's law: calls in flight / latency. Counting completions per ms
    // instead would see them in bursts (a service answering 8 at a time).
    const rate = runningSum / rttSum;
    if (appLimited) {
      begin(phase, limit, now); // measure this phase again
      return;
    }
    switch (phase) {
      case 'startup':
        // Double while doubling still delivers at least half again as much.
        if (baseRate === 0 || rate >= baseRate * 1.5) {
          base = limit;
          baseRate = rate;
          if (limit < max) begin('startup', limit * 2, now);
          else begin('base', base, now);
        } else begin('base', base, now);
        return;
      case 'base':
        baseRate = rate;
        if (nextProbe === 'up') begin('up', Math.max(base * (1 + step), base + 1), now);
        else begin('down', Math.min(base * (1 - step), base - 1), now);
        nextProbe = nextProbe === 'up' ? 'down' : 'up';
        return;
      case 'up':
      case 'down': {
        // Below the capacity the rate moves with the limit; past it, it stays.
        // A step up is kept when the rate rose by 60% of it or more, a step
        // down when the rate fell by less than 40% of it: a tie goes to fewer in flight.
        const change = limit / base - 1;
        const kept = rate >= baseRate * (1 + change * (phase === 'up' ? 0.6 : 0.4));
        if (kept) base = limit;
        step = kept ? Math.min(STEP, step * 2) : Math.max(1 / Math.max(base, 1), step / 2);
        begin('base', base, now);
        return;
      }
    }
  }

  return {
    get limit() {
      return limit;
    },
    update(sample: LimitSample) {
      const { now, rtt } = sample;
      if (Number.isNaN(roundStart)) roundStart = now;
      if (options.appLimited?.() === true) appLimited = true;
      if (sample.dropped) {
        // Overloaded: back off now and probe again from there.
        if (phase !== 'base' || limit >= base) {
          base = clamp(Math.min(base, limit) * BACKOFF);
          begin('base', base, now);
        }
        return limit;
      }
      smoothedRtt = smoothedRtt === 0 ? rtt : smoothedRtt * 0.9 + rtt * 0.1;
      if (rounds >= 1) {
        measured++;
        runningSum += sample.running;
        rttSum += rtt;
      }
      if (now - roundStart >= smoothedRtt) {
        roundStart = now;
        if (++rounds >= ROUNDS && measured >= SAMPLES) endPhase(now);
      }
      return limit;
    },
  };
}
