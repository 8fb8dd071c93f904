// "Connection pool exhaustion at 3 AM", and the same night with sluice's policies.
//
// A database with 20 connections. At 3 AM a cron job fires 200 slow queries
// (100 ms each) at it, while the API keeps serving 100 requests a second (one
// 20 ms query each). Without isolation the cron job holds every connection;
// API calls time out, and naive retries add load to a queue that is already
// full. With a bulkhead per caller, a deadline, a retry budget, a circuit
// breaker and a fallback, the API keeps answering and the cron job just runs
// slower. Both runs take about 1.5 s of API traffic.
import { setMaxListeners } from 'node:events';
import {
  bulkhead,
  CircuitOpenError,
  circuitBreaker,
  countWindow,
  exponentialBackoff,
  fallback,
  type Policy,
  pipeline,
  QueueFullError,
  RetryBudget,
  retry,
  Semaphore,
  TimeoutError,
  timeout,
} from 'sluice';

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

async function night(protectedRun: boolean) {
  const connections = new Semaphore(20);
  const query = async (ms: number, signal?: AbortSignal) => {
    const connection = await connections.acquire({ signal }); // waits for a free connection
    try {
      await sleep(ms, signal);
    } finally {
      connection.release();
    }
  };

  // Who may use the database, and how.
  const cronPolicy: Policy = protectedRun
    ? bulkhead({ concurrency: 5, maxWaiting: Number.POSITIVE_INFINITY })
    : pipeline();
  // Both retry up to 3 times, each attempt with a 200 ms deadline.
  const apiPolicy: Policy = protectedRun
    ? pipeline(
        fallback('cached profile', { isFailure: (e) => e instanceof CircuitOpenError || e instanceof QueueFullError }),
        retry({
          maxAttempts: 3,
          backoff: exponentialBackoff({ initial: 20 }),
          budget: new RetryBudget({ ratio: 0.1 }),
        }),
        timeout(200),
        circuitBreaker({ breaker: countWindow({ size: 20, failureRate: 0.5 }), openDuration: 300 }),
        bulkhead({ concurrency: 15, maxWaiting: 30 }),
      )
    : pipeline(retry({ maxAttempts: 3, backoff: exponentialBackoff({ initial: 20 }) }), timeout(200));

  const stopCron = new AbortController();
  setMaxListeners(300, stopCron.signal); // the 200 cron queries all wait on this one signal
  const cron = Promise.allSettled(
    Array.from({ length: 200 }, () =>
      cronPolicy.execute(({ signal }) => query(100, signal), { signal: stopCron.signal }),
    ),
  );

  const outcomes = { fresh: 0, cached: 0, failed: 0, attempts: 0 };
  const latencies: number[] = [];
  const requests: Promise<void>[] = [];
  for (let i = 0; i < 150; i++) {
    const started = performance.now();
    requests.push(
      apiPolicy
        .execute(async ({ signal }) => {
          outcomes.attempts++;
          await query(20, signal);
          return 'fresh profile';
        })
        .then(
          (answer) => {
            if (answer === 'fresh profile') outcomes.fresh++;
            else outcomes.cached++;
          },
          (error: unknown) => {
            outcomes.failed++;
            if (!(error instanceof TimeoutError)) throw error;
          },
        )
        .finally(() => latencies.push(performance.now() - started)),
    );
    await sleep(10);
  }
  await Promise.all(requests);
  stopCron.abort(new Error('end of the demo'));
  await cron;
  latencies.sort((a, b) => a - b);
  const p99 = latencies[Math.floor(latencies.length * 0.99)] as number;
  return { ...outcomes, p99: Math.round(p99) };
}

const rows = [
  ['shared pool, timeout + naive retries', await night(false)],
  ['sluice: bulkheads, deadline, retry budget, breaker, fallback', await night(true)],
] as const;
console.log('API requests: 150 at 100/s during the cron job');
console.log(
  `${'setup'.padEnd(62)} ${'fresh'.padStart(6)} ${'cached'.padStart(7)} ${'failed'.padStart(7)} ${'p99 ms'.padStart(7)} ${'db attempts'.padStart(12)}`,
);
for (const [name, r] of rows) {
  console.log(
    `${name.padEnd(62)} ${String(r.fresh).padStart(6)} ${String(r.cached).padStart(7)} ${String(r.failed).padStart(7)} ${String(r.p99).padStart(7)} ${String(r.attempts).padStart(12)}`,
  );
}
const [naive, safe] = [rows[0][1], rows[1][1]];
console.log(
  `answered (fresh or cached): ${naive.fresh + naive.cached}/150 without, ${safe.fresh + safe.cached}/150 with sluice`,
);
