// Rate limits in one process: headers for an HTTP API, several limits at once,
// per-key limits, and throttle() for outbound calls.
import { RateLimiter, rateLimitHeaders, throttle } from 'sluice';

// 1. An API that allows each client 5 requests per second and 20 per minute.
//    consume() never waits: it answers now, with what the response headers need.
//    Sliding windows: up to 5 back to back, never 6 in any second (the default,
//    GCRA without a burst, would space them 200 ms apart instead).
const api = new RateLimiter({
  limits: [
    { limit: 5, interval: 1000, algorithm: 'sliding-window' },
    { limit: 20, interval: 60_000, algorithm: 'sliding-window' },
  ],
});
const statuses: number[] = [];
let refusedHeaders: Record<string, string> = {};
for (let i = 0; i < 7; i++) {
  const decision = api.consume({ key: 'client-a' });
  statuses.push(decision.allowed ? 200 : 429);
  if (!decision.allowed) refusedHeaders = rateLimitHeaders(decision);
}
console.log(`client-a: ${statuses.join(' ')}`);
console.log(`429 headers: ${JSON.stringify(refusedHeaders)}`);
console.log(`client-b is limited separately: ${api.consume({ key: 'client-b' }).allowed ? 200 : 429}`);

// 2. Outbound calls: at most 10 per 100 ms per destination host. Extra calls
//    wait their turn (FIFO per host) instead of failing.
const started = performance.now();
const deliveredAt: Record<string, number[]> = {};
const deliver = throttle(
  async (url: string) => {
    const host = new URL(url).host;
    (deliveredAt[host] ??= []).push(Math.round(performance.now() - started));
  },
  { limit: 10, interval: 100, burst: 1 },
  { key: (url) => new URL(url).host },
);
await Promise.all(Array.from({ length: 30 }, (_, i) => deliver(`https://${i % 2 ? 'a' : 'b'}.example/hook/${i}`)));
for (const [host, times] of Object.entries(deliveredAt)) {
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  console.log(`${host}: ${times.length} calls, never closer than ${Math.min(...gaps)} ms apart (10 per 100 ms)`);
}

// 3. A waiting call with a deadline that cannot be met is refused at once.
const slow = new RateLimiter({ limits: { limit: 1, interval: 1000 } });
await slow.acquire();
const error = await slow.acquire({ timeout: 200 }).catch((e: Error & { code: string }) => e);
console.log(`${(error as { code: string }).code}: ${(error as Error).message}`);
