// The raw undici loop the command's HTTP mode is measured against: N workers,
// one `request` per id on one Agent, the body read.
// Usage: node undici-loop.mjs <undici-path> <items-file> <concurrency> <base-url>
import { readFileSync } from 'node:fs';

const [undiciPath, file, concurrency, base] = process.argv.slice(2);
const { Agent, request } = await import(undiciPath);
const items = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const agent = new Agent({ connections: Number(concurrency), keepAliveTimeout: 10_000 });
let next = 0;
let ok = 0;
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < items.length) {
      const response = await request(`${base}/items/${items[next++]}`, { dispatcher: agent });
      await response.body.text();
      if (response.statusCode === 200) ok++;
    }
  }),
);
await agent.close();
if (ok !== items.length) throw new Error(`${items.length - ok} requests failed`);
