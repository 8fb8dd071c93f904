import { describe, expect, it } from 'vitest';
import { deliveryRate } from '../src/deliveryRate.js';

/**
 * A closed loop on simulated time: the client keeps `limit` calls in flight;
 * the service has K workers of about `latency` ms and a FIFO queue (no
 * drops); each call also costs the client about `overhead` ms. Returns the limit sampled every
 * 100 ms over the second half of `duration`.
 */
function simulate(K: number, latency: number, overhead: number, duration = 60_000): number[] {
  const algorithm = deliveryRate({ initial: 8, min: 1, max: 1000 });
  // Latencies vary by +-20% and the client's overhead by +-50% (a fixed seed: the same run every time).
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const serve = () => latency * (0.8 + 0.4 * random());
  const cost = () => overhead * (0.5 + random());
  const completions: { at: number; started: number }[] = [];
  const queue: number[] = [];
  let busy = 0;
  let inFlight = 0;
  let now = 0;
  const samples: number[] = [];
  let nextSample = duration / 2;
  const schedule = (at: number, started: number) => {
    let i = completions.length;
    while (i > 0 && (completions[i - 1] as { at: number }).at > at) i--;
    completions.splice(i, 0, { at, started });
  };
  const send = () => {
    inFlight++;
    const started = now;
    if (busy < K) {
      busy++;
      schedule(now + serve() + cost(), started);
    } else queue.push(started);
  };
  while (now < duration) {
    while (inFlight < Math.round(algorithm.limit)) send();
    const done = completions.shift() as { at: number; started: number };
    now = done.at;
    inFlight--;
    busy--;
    const waiting = queue.shift();
    if (waiting !== undefined) {
      busy++;
      schedule(now + serve() + cost(), waiting);
    }
    algorithm.update({ now, rtt: now - done.started, running: inFlight + 1, dropped: false });
    while (now >= nextSample) {
      samples.push(Math.round(algorithm.limit));
      nextSample += 100;
    }
  }
  return samples;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

describe('deliveryRate (the limit of --concurrency auto), on simulated time', () => {
  // A phase measures 200 completions at least: at 30 calls a second (K = 3) that takes a while.
  for (const [K, latency, overhead, duration] of [
    [8, 50, 1, 60_000],
    [64, 50, 1, 60_000],
    [16, 10, 0.5, 60_000],
    [200, 20, 0.5, 60_000],
    [3, 100, 5, 400_000],
  ] as const) {
    it(`settles within [0.7K, 1.1K] for K = ${K}, ${latency} ms per call, ${overhead} ms of client overhead`, () => {
      const settled = median(simulate(K, latency, overhead, duration));
      expect(settled).toBeGreaterThanOrEqual(0.7 * K);
      expect(settled).toBeLessThanOrEqual(1.1 * K);
    });
  }

  it('with a large client overhead it keeps the service busy: K x (1 + overhead / latency) in flight', () => {
    // 2 ms of client work per 10 ms call: 8 workers need 9.6 calls in flight.
    const settled = median(simulate(8, 10, 2));
    expect(settled).toBeGreaterThanOrEqual(8);
    expect(settled).toBeLessThanOrEqual(Math.ceil(8 * 1.2));
  });

  it('does not sink below the capacity over a long run (no downward spiral)', () => {
    const samples = simulate(16, 30, 2, 300_000);
    expect(Math.min(...samples.slice(-500))).toBeGreaterThanOrEqual(0.7 * 16 * 0.75);
    expect(median(samples.slice(-500))).toBeGreaterThanOrEqual(0.7 * 16);
  });
});
