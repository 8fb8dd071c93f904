// Bounded concurrency for a big list: at most 20 calls in flight, results in input order.
import { limit, QueueFullError } from 'sluice';

const fetchUser = async (id: number) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  return { id, name: `user-${id}` };
};

const limited = limit(20);
const ids = Array.from({ length: 1000 }, (_, i) => i + 1);

// map() pulls ids only as slots free up: 1,000,000 ids would not become 1,000,000 queued calls.
const users = await limited.map(ids, (id) => fetchUser(id));
console.log(`fetched ${users.length} users; first ${users[0]?.name}, last ${users.at(-1)?.name}`);

// The p-limit call form works too.
const one = await limited(fetchUser, 42);
console.log(`one call: ${one.name}`);

// Load shedding: a bounded backlog rejects at once instead of queueing forever.
const shedding = limit({ concurrency: 2, maxWaiting: 3 });
const results = await Promise.allSettled(ids.slice(0, 10).map((id) => shedding(fetchUser, id)));
const shed = results.filter((r) => r.status === 'rejected' && r.reason instanceof QueueFullError).length;
console.log(`with maxWaiting 3: ${10 - shed} ran, ${shed} shed with SLUICE_QUEUE_FULL`);
