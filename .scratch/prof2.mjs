import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
const redis = new Redis('redis://127.0.0.1:6379');
const src = readFileSync('../src/redis/scripts.ts','utf8'); const cur = src.slice(src.indexOf('export const RATE_SCRIPT = `')+28, src.indexOf('`;', src.indexOf('export const RATE_SCRIPT')));
const sha = await redis.script('LOAD', cur);
for (let i = 0; i < 30000; i++) await redis.call('EVALSHA', sha, '1', 'k2prof', '1', '1', 'g', '1000000000', '1000', '1000000000', '1');
redis.disconnect();
