import { checkCount, checkFiniteNumber, checkRenamed, show } from '../core/validate.js';

function positive(name: string, value: unknown): number {
  const n = checkFiniteNumber(name, value);
  if (n <= 0) throw new RangeError(`Expected \`${name}\` to be a finite number > 0, got ${show(n)}`);
  return n;
}

/**
 * Little's law: the concurrency a steady `arrivalRate` (per second) of work with a
 * mean `serviceTime` (ms) needs, `arrivalRate x serviceTime`, plus `headroom` (a fraction,
 * for variance), rounded up. E.g. 200/s at 50 ms with 50% headroom: 15.
 */
export function littlesLaw(options: {
  readonly arrivalRate: number;
  readonly serviceTime: number;
  readonly headroom?: number;
}): number {
  checkRenamed(options, { rate: 'arrivalRate', latencyMs: 'serviceTime' });
  const rate = positive('arrivalRate', options.arrivalRate);
  const latency = positive('serviceTime', options.serviceTime);
  const headroom = checkFiniteNumber('headroom', options.headroom ?? 0);
  if (headroom < 0) throw new RangeError(`Expected \`headroom\` to be a number >= 0, got ${show(headroom)}`);
  return Math.ceil(rate * (latency / 1000) * (1 + headroom) - 1e-9);
}

export interface ErlangCResult {
  /** Offered load in erlangs: arrival rate x mean service time. */
  readonly load: number;
  /** load / servers. Below 1 for a stable queue. */
  readonly utilization: number;
  /** Probability that an arrival has to wait (Erlang C). */
  readonly probabilityOfWaiting: number;
  /** Mean wait in the queue over all arrivals, in ms. */
  readonly meanWait: number;
  /** Mean number waiting. */
  readonly meanQueueLength: number;
}

/**
 * Erlang C: for `servers` parallel servers (a pool of c connections),
 * Poisson arrivals at `arrivalRate` per second and exponential service with
 * mean `serviceTime`, the probability of waiting and the mean wait (M/M/c).
 * Computed through the Erlang B recursion, which stays exact for large c.
 */
export function erlangC(options: {
  readonly servers: number;
  readonly arrivalRate: number;
  readonly serviceTime: number;
}): ErlangCResult {
  const c = checkCount('servers', options.servers, 1, false);
  checkRenamed(options, { serviceTimeMs: 'serviceTime' });
  const lambda = positive('arrivalRate', options.arrivalRate);
  const service = positive('serviceTime', options.serviceTime) / 1000;
  const load = lambda * service;
  const utilization = load / c;
  if (utilization >= 1) {
    return {
      load,
      utilization,
      probabilityOfWaiting: 1,
      meanWait: Number.POSITIVE_INFINITY,
      meanQueueLength: Number.POSITIVE_INFINITY,
    };
  }
  let b = 1; // Erlang B for 0 servers
  for (let k = 1; k <= c; k++) b = (load * b) / (k + load * b);
  const p = b / (1 - utilization * (1 - b));
  const meanWait = (p * service) / (c - load); // seconds
  return {
    load,
    utilization,
    probabilityOfWaiting: p,
    meanWait: meanWait * 1000,
    meanQueueLength: lambda * meanWait,
  };
}
