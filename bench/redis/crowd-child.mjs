// One process of the Redis semaphore benchmark: `waiters` callers at once, each
// holding a permit `hold` ms. argv[2]: JSON { impl, url, name, permits, waiters, hold, startAt }.
// Prints one JSON line: { end (epoch ms), failures, granted, most }.
import { Redis } from 'ioredis';
import { Semaphore } from 'redis-semaphore';
import { RedisSemaphore } from 'sluice/redis';

const task = JSON.parse(process.argv[2]);
const client = new Redis(task.url);
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
let acquireOne;
let done = async () => {};
if (task.impl === 'sluice') {
  const sem = new RedisSemaphore({ client, name: task.name, permits: task.permits });
  acquireOne = async () => {
    const lease = await sem.acquire();
    return () => lease.release();
  };
  done = () => sem.close();
} else {
  // redis-semaphore: one Semaphore object per acquirer; it polls every retryInterval (default 10 ms).
  acquireOne = async () => {
    const sem = new Semaphore(client, task.name, task.permits, { acquireTimeout: 120_000, lockTimeout: 30_000 });
    await sem.acquire();
    return () => sem.release();
  };
}
await sleep(Math.max(0, task.startAt - Date.now()));
let failures = 0;
let granted = 0;
let firstFailure;
await Promise.all(
  Array.from({ length: task.waiters }, async () => {
    try {
      const release = await acquireOne();
      granted++;
      await sleep(task.hold);
      await release();
    } catch (error) {
      failures++;
      firstFailure ??= String(error?.message ?? error);
    }
  }),
);
const end = Date.now();
await done();
client.disconnect();
console.log(JSON.stringify({ end, failures, granted, firstFailure }));
