import { Redis } from 'ioredis';
const redis = new Redis('redis://127.0.0.1:6379');
const plain = () => redis.call('PING');
const timed = () => new Promise((resolve, reject) => { const t = setTimeout(() => reject(new Error('x')), 1000); redis.call('PING').then((v) => { clearTimeout(t); resolve(v); }, reject); });
const hops = () => redis.call('PING').then((x) => x).then((x) => x).then((x) => x).then((x) => x).then((x) => x).then((x) => x);
const micro = () => new Promise((res) => queueMicrotask(res)).then(() => redis.call('PING'));
let shared = setTimeout(() => {}, 1e9); shared.unref();
const toggled = () => { shared.ref(); return redis.call('PING').then((v) => { shared.unref(); return v; }); };
const fns = { plain, timed, toggled };
const t = Object.fromEntries(Object.keys(fns).map((n) => [n, []]));
for (let i = 0; i < 10000; i++) for (const [n, f] of Object.entries(fns)) { const s = performance.now(); await f(); t[n].push(performance.now() - s); }
for (const [n, v] of Object.entries(t)) { v.sort((a, b) => a - b); console.log(n.padEnd(6), (v[v.length >> 1] * 1000).toFixed(1), 'µs p50'); }
redis.disconnect();
