import { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import { RedisRateLimiter } from '../dist/redis/index.js';
const redis = new Redis('redis://127.0.0.1:6379');
const ours = new RedisRateLimiter({ client: redis, name: `p50-${Date.now()}`, limits: { limit: 1e9, interval: 1000 } });
const rlf = new RateLimiterRedis({ storeClient: redis, points: 1e9, duration: 1, keyPrefix: `p50rlf${Date.now()}` });
const { RATE_SCRIPT } = await import('../src/redis/scripts.ts').catch(() => ({}));
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
const rows = { ours: [], rlf: [], leanRaw: [], ping: [] };
for (let round = 0; round < 7; round++) {
  rows.ours.push(await p50(() => ours.consume({ key: 'a' })));
  rows.rlf.push(await p50(() => rlf.consume('a')));
  rows.leanRaw.push(await p50(() => redis.evalsha(leanSha, 1, k, '0.000001', '1000000000', '1')));
  rows.ping.push(await p50(() => redis.ping()));
}
const med = (v) => v.sort((a, b) => a - b)[Math.floor(v.length / 2)];
for (const [name, v] of Object.entries(rows)) console.log(name.padEnd(8), med(v).toFixed(1), 'µs p50');
await ours.close(); redis.disconnect();
