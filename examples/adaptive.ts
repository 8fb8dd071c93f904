// Find the right concurrency automatically, and size a pool from first principles.
import { AdaptiveLimiter, erlangC, gradient, littlesLaw } from 'sluice';
import { simulate } from '../bench/adaptive/simulation.js';

// 1. A downstream whose capacity (40 calls at once) the client does not know:
//    past it, latency grows; past 60 in flight, it fails. 180 clients push as
//    hard as they can. The limiter starts at 20 and finds 40 on its own.
//    (Virtual time: 30 simulated seconds run in a moment, the same every time.)
const result = await simulate(40, (clock) => {
  const limiter = new AdaptiveLimiter({ algorithm: gradient({ initial: 20, max: 1000 }), clock });
  return {
    run: (fn) => limiter.run(fn),
    get limit() {
      return limiter.limit;
    },
  };
});
const at = (seconds: number) => result.series.find((s) => s.t === seconds * 1000)?.limit;
console.log(`limit at 1 s: ${at(1)}, 5 s: ${at(5)}, 20 s: ${at(20)}, 30 s: ${at(30)} (hidden capacity 40)`);
console.log(
  `settled at ${result.settledLimit.toFixed(1)}, p99 latency ${result.p99Ratio.toFixed(2)}x unloaded, ${(result.utilization * 100).toFixed(0)}% of capacity used, ${result.failureRate * 100}% failed`,
);

// 2. Sizing by hand: 300 requests/s at 40 ms each need about 12 in flight
//    (Little's law); with 15 connections, how often does a request wait?
const needed = littlesLaw({ arrivalRate: 300, serviceTime: 40 });
const pool = erlangC({ servers: 15, arrivalRate: 300, serviceTime: 40 });
console.log(
  `Little's law: ${needed} in flight; with 15 connections ${(pool.probabilityOfWaiting * 100).toFixed(1)}% of requests wait, ${pool.meanWait.toFixed(2)} ms on average`,
);
