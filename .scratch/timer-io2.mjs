import { Redis } from 'ioredis';
const redis = new Redis('redis://127.0.0.1:6379');
const plain = () => redis.call('PING');
const keep = setTimeout(() => {}, 1e9); keep.unref();
const chain = () => new Promise((res) => queueMicrotask(res)).then(() => redis.call('PING').catch((e) => { throw e; })).then((x) => x).then((x) => x).then((x) => x);
const wrapped = () => new Promise((resolve, reject) => { redis.call('PING').then((v) => resolve(v), reject); });
const fns = { plain, chain, wrapped };
const t = Object.fromEntries(Object.keys(fns).map((n) => [n, []]));
for (let i = 0; i < 10000; i++) for (const [n, f] of Object.entries(fns)) { const s = performance.now(); await f(); t[n].push(performance.now() - s); }
for (const [n, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(n.padEnd(8), (v[v.length >> 1] * 1000).toFixed(1), 'µs p50'); }
redis.disconnect();
