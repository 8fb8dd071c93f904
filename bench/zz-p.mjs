import { limit } from '../dist/index.js';
const instant = (i) => Promise.resolve(i);
const ids = Array.from({ length: 100000 }, (_, i) => i);
for (let r = 0; r < 40; r++) { const l = limit(100); await Promise.all(ids.map((i) => l(instant, i))); }
