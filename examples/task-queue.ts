// A queue with priorities, a rate limit, and backpressure from a fast producer.
import { TaskQueue } from 'sluice';

// 5 at a time, and never more than 20 starts in any 100 ms window (sliding window).
const queue = new TaskQueue({
  concurrency: 5,
  limits: { limit: 20, interval: 100, algorithm: 'sliding-window' },
  runTimeout: 1000,
});

const table = new Map<number, string>();
const upsert = async (row: number, signal?: AbortSignal) => {
  signal?.throwIfAborted();
  await new Promise((resolve) => setTimeout(resolve, 2));
  table.set(row, `row-${row}`);
};

const started = Date.now();
async function* rows() {
  for (let i = 0; i < 100; i++) yield i;
}
for await (const row of rows()) {
  // Backpressure: the producer waits while 10 tasks are queued, so memory stays flat.
  await queue.onWaitingBelow(10);
  queue.add(({ signal }) => upsert(row, signal));
}
const urgent = queue.add(() => 'urgent work', { priority: 10 });
console.log(`${await urgent} ran ahead of the backlog`);
await queue.onIdle();
console.log(`${table.size} rows in ~${Math.round((Date.now() - started) / 100) * 100} ms (rate limit: 20 per 100 ms)`);
console.log(`stats ${JSON.stringify(queue.stats())}`);
