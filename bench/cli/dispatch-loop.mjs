// undici's lowest level, for reference: N workers, one `dispatch` per id on one
// Agent with a handler that keeps the body (what sluice's HTTP mode does per
// request, without the run around it).
// Usage: node dispatch-loop.mjs <undici-path> <items-file> <concurrency> <base-url>
import { readFileSync } from 'node:fs';

const [undiciPath, file, concurrency, base] = process.argv.slice(2);
const { Agent } = await import(undiciPath);
const items = readFileSync(file, 'utf8').split('\n').filter(Boolean);
const agent = new Agent({ connections: Number(concurrency), keepAliveTimeout: 10_000 });
const origin = new URL(base).origin;
const get = (path) =>
  new Promise((resolve, reject) => {
    let status = 0;
    const chunks = [];
    agent.dispatch(
      { origin, path, method: 'GET', headers: {} },
      {
        onRequestStart() {},
        onResponseStart(_controller, statusCode) {
          status = statusCode;
        },
        onResponseData(_controller, chunk) {
          chunks.push(chunk);
        },
        onResponseEnd() {
          resolve({ status, body: Buffer.concat(chunks).toString() });
        },
        onResponseError(_controller, error) {
          reject(error);
        },
      },
    );
  });
let next = 0;
let ok = 0;
await Promise.all(
  Array.from({ length: Number(concurrency) }, async () => {
    while (next < items.length) {
      const response = await get(`/items/${items[next++]}`);
      if (response.status === 200) ok++;
    }
  }),
);
await agent.close();
if (ok !== items.length) throw new Error(`${items.length - ok} requests failed`);
