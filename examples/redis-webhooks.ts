// Sharing limits across machines: the webhook storm.
//
// Three instances of a service (three processes here) deliver 6,120 webhooks
// to 2,004 destinations: 3 events for each of 2,000, and 30 for each of 4 busy
// ones. Two limits hold across all of them, through Redis:
//   - at most 50 deliveries in flight in total (RedisSemaphore), and
//   - at most 10 deliveries per second arriving at each destination (RedisRateLimiter).
// The rate is decided at admission, on Redis's clock; a request reaches its
// destination a little later. The limit leaves 100 ms for that (10 per 1100 ms
// of admissions), and the call starts right after its admission: the slot is
// taken first, the rate asked without waiting inside it, and a refusal gives
// the slot back while it waits (a slot never idles on one destination's rate).
// Run it with a Redis at REDIS_URL (default redis://127.0.0.1:6379).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { RedisRateLimiter, RedisSemaphore } from 'sluice/redis';

const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const [role, run, share] = process.argv.slice(2);

if (role === 'instance') {
  const redis = new Redis(url);
  const inFlight = new RedisSemaphore({ client: redis, name: `webhooks-${run}`, permits: 50 });
  const perDestination = new RedisRateLimiter({
    client: redis,
    name: `webhooks-${run}`,
    limits: { limit: 10, interval: 1100 }, // 10 per second at the destination, 100 ms left for the network
    onUnavailable: 'fail-closed',
  });
  const serverNow = async () => {
    const [seconds, micros] = await redis.time();
    return Number(seconds) * 1000 + Number(micros) / 1000;
  };
  const deliver = async (destination: string, event: number) => {
    for (;;) {
      const wait = await inFlight.run(async ({ token }) => {
        const decision = await perDestination.consume({ key: destination }); // answers now, never waits
        if (!decision.allowed) return decision.retryAfter;
        // The "HTTP call", begun right after its admission: recorded in Redis, with the
        // time it started on the server's clock, so the parent can check the limits.
        const startedAt = await serverNow();
        const running = await redis.incr(`webhooks-${run}:running`);
        await redis.rpush(`webhooks-${run}:log`, JSON.stringify({ destination, event, startedAt, running, token }));
        await new Promise((resolve) => setTimeout(resolve, 20));
        await redis.decr(`webhooks-${run}:running`);
        return 0;
      });
      if (wait === 0) return;
      await new Promise((resolve) => setTimeout(resolve, wait)); // outside the slot
    }
  };
  // This instance's share of the deliveries (every third one).
  const jobs = [];
  let n = 0;
  for (const [destinations, events] of [
    [Array.from({ length: 2000 }, (_, i) => `d${i}.example`), 3],
    [['busy-a.example', 'busy-b.example', 'busy-c.example', 'busy-d.example'], 30],
  ] as const) {
    for (let event = 0; event < events; event++) {
      for (const destination of destinations) {
        if (n++ % 3 !== Number(share)) continue;
        jobs.push(
          deliver(destination, event).catch(async (error) => {
            await redis.rpush(`webhooks-${run}:failed`, String(error));
          }),
        );
      }
    }
  }
  await Promise.all(jobs);
  await inFlight.close();
  redis.disconnect();
} else {
  const id = `${process.pid}`;
  const started = Date.now();
  const instances = Array.from({ length: 3 }, (_, share) =>
    spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, 'instance', id, String(share)], {
      stdio: 'inherit',
    }),
  );
  await Promise.all(instances.map((child) => once(child, 'exit')));
  const redis = new Redis(url);
  const log = (await redis.lrange(`webhooks-${id}:log`, 0, -1)).map(
    (line) => JSON.parse(line) as { destination: string; startedAt: number; running: number; token: number },
  );
  const failed = await redis.lrange(`webhooks-${id}:failed`, 0, -1);
  let maxRunning = 0;
  const byDestination = new Map<string, number[]>();
  for (const entry of log) {
    maxRunning = Math.max(maxRunning, entry.running);
    byDestination.set(entry.destination, [...(byDestination.get(entry.destination) ?? []), entry.startedAt]);
  }
  // The most calls begun to one destination within any 1000 ms window (server clock).
  const mostInASecond = (starts: number[]) => {
    const sorted = [...starts].sort((a, b) => a - b);
    let most = 0;
    for (let i = 0, j = 0; i < sorted.length; i++) {
      while ((sorted[i] as number) - (sorted[j] as number) >= 1000) j++;
      most = Math.max(most, i - j + 1);
    }
    return most;
  };
  const busy = [...byDestination].filter(([d]) => d.startsWith('busy-')).map(([, starts]) => mostInASecond(starts));
  const others = Math.max(
    ...[...byDestination].filter(([d]) => !d.startsWith('busy-')).map(([, starts]) => mostInASecond(starts)),
  );
  const tokens = new Set(log.map((entry) => entry.token));
  console.log(
    `${log.length} webhooks to ${byDestination.size} destinations delivered by 3 processes in ${((Date.now() - started) / 1000).toFixed(1)} s, ${failed.length} failed`,
  );
  console.log(`most in flight at once, across processes: ${maxRunning} (limit 50)`);
  console.log(`most begun per destination in any second: busy ${busy.join(', ')}; others ${others} (at most 10)`);
  console.log(`fencing tokens: ${tokens.size} distinct, one per delivery`);
  if (failed.length > 0) console.log(`first failure: ${failed[0]}`);
  await redis.del(`webhooks-${id}:log`, `webhooks-${id}:running`, `webhooks-${id}:failed`);
  redis.disconnect();
}
