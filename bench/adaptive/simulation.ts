/**
 * A deterministic simulation on virtual time: clients call a downstream with
 * a hidden capacity K through a limiter. Used by the adaptive-limit test
 * (test/adaptive.simulation.test.ts) and by bench/adaptive/chart.ts, which
 * writes the table and the chart kept in bench/.
 *
 * Three kinds of downstream (`overload`), unloaded latency L:
 * - `latency`: with n calls in flight, a call that arrives takes
 *   L x max(1, n / K) (the capacity is shared); past 1.5 K in flight it fails
 *   (overloaded) after that time.
 * - `errors`: latency stays L; a call that arrives with more than K in flight
 *   (itself included) fails after L. Only drops say "too much".
 * - `rejects`: latency stays L; a call over K is refused at once (a 429 after
 *   L / 100): fast failures, the case that fools latency-only algorithms.
 */
import type { Clock } from '../../src/core/clock.js';

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock whose time moves only when `runUntil` moves it. */
export class VirtualClock implements Clock {
  #now = 0;
  #seq = 0;
  readonly #heap: Timer[] = [];

  now(): number {
    return this.#now;
  }
  setTimeout(fn: () => void, ms: number): unknown {
    const timer: Timer = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#push(timer);
    return timer;
  }
  clearTimeout(handle: unknown): void {
    if (handle !== undefined && handle !== null) (handle as Timer).cancelled = true;
  }

  /** Fire timers in time order up to `end`, letting promise reactions run after each. */
  async runUntil(end: number): Promise<void> {
    while (this.#heap.length > 0 && (this.#heap[0] as Timer).at <= end) {
      const timer = this.#pop();
      if (timer.cancelled) continue;
      this.#now = timer.at;
      timer.fn();
      for (let i = 0; i < 40; i++) await undefined;
    }
    this.#now = end;
  }

  #less(a: Timer, b: Timer): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }
  #push(timer: Timer): void {
    const heap = this.#heap;
    heap.push(timer);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.#less(heap[i] as Timer, heap[parent] as Timer)) break;
      [heap[i], heap[parent]] = [heap[parent] as Timer, heap[i] as Timer];
      i = parent;
    }
  }
  #pop(): Timer {
    const heap = this.#heap;
    const top = heap[0] as Timer;
    const last = heap.pop() as Timer;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.#less(heap[l] as Timer, heap[m] as Timer)) m = l;
        if (r < heap.length && this.#less(heap[r] as Timer, heap[m] as Timer)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m] as Timer, heap[i] as Timer];
        i = m;
      }
    }
    return top;
  }
}

/** What the simulation needs from a limiter: run work under it, and its current limit. */
export interface SimLimiter {
  run<T>(fn: () => Promise<T>): Promise<T>;
  readonly limit: number;
}

/** How the downstream says it has too much: see the file's comment. */
export type Overload = 'latency' | 'errors' | 'rejects';

export interface SimulationResult {
  readonly k: number;
  readonly overload: Overload;
  /** Mean limit over the last third of the run. */
  readonly settledLimit: number;
  /** Median limit over the last third of the run (sampled every `step`). */
  readonly medianLimit: number;
  /** p99 downstream latency of successful calls over the last third, divided by the unloaded latency. */
  readonly p99Ratio: number;
  /** Successful calls per second over the last third, divided by the downstream's capacity (K / L). */
  readonly utilization: number;
  /** Failed calls / all calls over the last third. */
  readonly failureRate: number;
  /** Every `step` ms: time, limit, p99 ratio of the calls finished in that step. */
  readonly series: { t: number; limit: number; p99Ratio: number }[];
}

const percentile = (values: number[], q: number) => {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
};

/** Run `clients` closed-loop callers against a downstream of capacity `k` for `durationMs`. */
export async function simulate(
  k: number,
  makeLimiter: (clock: VirtualClock) => SimLimiter,
  {
    durationMs = 30_000,
    latencyMs = 100,
    step = 250,
    overload = 'latency' as Overload,
  }: { durationMs?: number; latencyMs?: number; step?: number; overload?: Overload } = {},
): Promise<SimulationResult> {
  const clock = new VirtualClock();
  const limiter = makeLimiter(clock);
  let inflight = 0;
  const downstream = () => {
    inflight++;
    let overloaded: boolean;
    let took: number;
    if (overload === 'latency') {
      overloaded = inflight > 1.5 * k;
      took = latencyMs * Math.max(1, inflight / k);
    } else {
      overloaded = inflight > k;
      took = overloaded && overload === 'rejects' ? latencyMs / 100 : latencyMs;
    }
    return new Promise<number>((resolve, reject) => {
      clock.setTimeout(() => {
        inflight--;
        if (overloaded) reject(new Error('503 overloaded'));
        else resolve(took);
      }, took);
    });
  };
  const finished: { at: number; latency: number; ok: boolean }[] = [];
  let running = true;
  const clients = 4 * k + 20;
  const loops = Array.from({ length: clients }, async () => {
    while (running) {
      // Latency is the downstream's (the time a call spends there), not the
      // wait in front of the limiter: the limiter's job is to keep it low.
      try {
        const took = await limiter.run(downstream);
        finished.push({ at: clock.now(), latency: took, ok: true });
      } catch {
        finished.push({ at: clock.now(), latency: 0, ok: false });
      }
    }
  });
  const series: { t: number; limit: number; p99Ratio: number }[] = [];
  let seen = 0;
  for (let t = step; t <= durationMs; t += step) {
    await clock.runUntil(t);
    const window = finished.slice(seen).filter((f) => f.ok);
    seen = finished.length;
    series.push({
      t,
      limit: limiter.limit,
      p99Ratio:
        percentile(
          window.map((f) => f.latency),
          0.99,
        ) / latencyMs,
    });
  }
  running = false;
  await clock.runUntil(durationMs + 100 * latencyMs);
  await Promise.all(loops);
  const from = (durationMs * 2) / 3;
  const tail = finished.filter((f) => f.at >= from && f.at <= durationMs);
  const ok = tail.filter((f) => f.ok);
  const settled = series.filter((s) => s.t > from);
  return {
    k,
    overload,
    medianLimit: percentile(
      settled.map((s) => s.limit),
      0.5,
    ),
    settledLimit: settled.reduce((sum, s) => sum + s.limit, 0) / Math.max(1, settled.length),
    p99Ratio:
      percentile(
        ok.map((f) => f.latency),
        0.99,
      ) / latencyMs,
    utilization: ok.length / ((durationMs - from) / 1000) / (k / (latencyMs / 1000)),
    failureRate: tail.length === 0 ? 0 : (tail.length - ok.length) / tail.length,
    series,
  };
}
