// Switching from p-limit / p-queue is one import line each.
import pLimit from 'sluice/compat/p-limit';
import PQueue from 'sluice/compat/p-queue';

const limit = pLimit(2);
const input = [1, 2, 3, 4, 5].map((x) => limit(async () => x * 2));
console.log(`p-limit drop-in: ${JSON.stringify(await Promise.all(input))}`);

const queue = new PQueue({ concurrency: 2 });
queue.on('completed', (result) => console.log(`p-queue drop-in completed: ${result}`));
await queue.addAll([async () => 'a', async () => 'b']);
await queue.onIdle();
