import { RedisRateLimiter } from '../dist/redis/index.js';
const reply = [1, 0, 5, 10, 100];
const adapter = { command: () => Promise.resolve(reply), subscribe: async () => async () => {} };
const ours = new RedisRateLimiter({ client: adapter, name: 'x', limits: { limit: 10, interval: 1000 } });
const N = 200000;
for (let r = 0; r < 5; r++) {
  let t0 = performance.now();
  for (let i = 0; i < N; i++) await ours.consume({ key: 'a' });
  const a = (performance.now() - t0) / N * 1000;
  t0 = performance.now();
  for (let i = 0; i < N; i++) await adapter.command(['EVALSHA', 'x', '1', 'k', '1']);
  const b = (performance.now() - t0) / N * 1000;
  console.log(`consume ${a.toFixed(2)} µs, raw ${b.toFixed(2)} µs, overhead ${(a - b).toFixed(2)} µs`);
}
