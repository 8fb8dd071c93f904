import { Redis } from 'ioredis';
import { RedisRateLimiter } from '../dist/redis/index.js';
const redis = new Redis('redis://127.0.0.1:6379');
const ours = new RedisRateLimiter({ client: redis, name: `prof-${Date.now()}`, limits: { limit: 1e9, interval: 1000 } });
for (let i = 0; i < 30000; i++) await ours.consume({ key: 'a' });
await ours.close(); redis.disconnect();
