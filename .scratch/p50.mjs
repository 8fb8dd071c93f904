import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisRateLimiter } from '../dist/redis/index.js';
const redis = new Redis('redis://127.0.0.1:6379');
const ours = new RedisRateLimiter({ client: redis, name: `p50-${Date.now()}`, limits: { limit: 1e9, interval: 1000 } });
const rlf = new RateLimiterRedis({ storeClient: redis, points: 1e9, duration: 1, keyPrefix: `p50rlf${Date.now()}` });
const p50 = async (fn, n = 5000) => { const t = []; for (let i = 0; i < n; i++) { const s = performance.now(); await fn(); t.push(performance.now() - s); } t.sort((a, b) => a - b); return t[Math.floor(n / 2)] * 1000; };
const lean = `local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local T, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local w = tat + cost * T - burst * T - now
if w <= 1e-6 then
  tat = tat + cost * T
  redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.max(1, math.ceil(tat - now)))
  return { 1, 0, math.floor((burst * T - (tat - now)) / T + 1e-6), math.ceil(tat - now) }
end
return { 0, math.ceil(w), math.floor((burst * T - (tat - now)) / T + 1e-6), math.ceil(tat - now) }`;
const leanSha = await redis.script('LOAD', lean);
const k = `p50lean${Date.now()}`;
const { readFileSync } = await import('node:fs');
const src = readFileSync('src/redis/scripts.ts','utf8'); const cur = src.slice(src.indexOf('export const RATE_SCRIPT = `')+28, src.indexOf('`;', src.indexOf('export const RATE_SCRIPT')));
const curSha = await redis.script('LOAD', cur);
const k2 = `p50cur${Date.now()}`;
const ours1 = new RedisRateLimiter({ client: redis, name: `p50b-${Date.now()}`, limits: { limit: 1e9, interval: 1000 }, maxBatch: 1 });
const fns = { curCall: () => redis.call('EVALSHA', curSha, '1', k2, '1', '1', 'g', '1000000000', '1000', '1000000000', '1'), ours1: () => ours1.consume({ key: 'a' }), curRaw: () => redis.evalsha(curSha, 1, k2, '1', '1', 'g', '1000000000', '1000', '1000000000', '1'), ours: () => ours.consume({ key: 'a' }), rlf: () => rlf.consume('a'), leanRaw: () => redis.evalsha(leanSha, 1, k, '0.000001', '1000000000', '1'), ping: () => redis.ping() };
const t = Object.fromEntries(Object.keys(fns).map((n) => [n, []]));
for (let i = 0; i < 10000; i++) {
  for (const [n, f] of Object.entries(fns)) { const s0 = performance.now(); await f(); t[n].push(performance.now() - s0); }
}
for (const [n, v] of Object.entries(t)) { v.sort((x, y) => x - y); console.log(n.padEnd(8), (v[v.length >> 1] * 1000).toFixed(1), 'µs p50', (v[Math.floor(v.length * 0.99)] * 1000).toFixed(1), 'p99'); }
await ours.close(); redis.disconnect();
