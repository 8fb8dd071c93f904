// A weighted, FIFO semaphore: 10 units of capacity; big jobs take more.
import { Semaphore, TimeoutError } from 'sluice';

const memory = new Semaphore(10); // e.g. 10 GiB of working memory

async function job(name: string, gib: number) {
  // `using` releases the permit at the end of the block, even on a throw.
  using _permit = await memory.acquire({ weight: gib });
  console.log(`${name} running with ${gib} GiB (${memory.inUse}/10 in use, ${memory.waiting} waiting)`);
  await new Promise((resolve) => setTimeout(resolve, 5));
}

// The 8 GiB job is not overtaken by the small ones queued behind it: no starvation.
await Promise.all([job('a', 4), job('b', 4), job('big', 8), job('c', 1), job('d', 1)]);

// Every wait can time out or be aborted.
const held = await memory.acquire({ weight: 10 });
try {
  await memory.acquire({ timeout: 10 });
} catch (error) {
  if (error instanceof TimeoutError) console.log(`${error.code}: ${error.message}`);
}
const controller = new AbortController();
const waiting = memory.acquire({ signal: controller.signal });
controller.abort(new Error('client went away'));
await waiting.catch((error: Error) => console.log(`aborted: ${error.message}`));
held.release();

// Capacity can change at run time.
memory.resize(20);
console.log(`capacity ${memory.capacity}, available ${memory.available}`);
await memory.close();
console.log('closed');
