// One process building 20 pipelines in a row (as a long-lived server does): a new mapper
// closure and a new source each run (a generator, an array, a sync generator, in turn).
// argv[2]: sluice | sluice-unordered | p-map. Prints the items/s of each run as JSON.
import { pMapIterable } from 'p-map';
import { map } from 'sluice';

const impl = process.argv[2];
const n = Number(process.argv[3] ?? 300_000);
async function* generated(count) {
  for (let i = 0; i < count; i++) yield i;
}
function* synchronous(count) {
  for (let i = 0; i < count; i++) yield i;
}
const out = [];
for (let run = 0; run < 20; run++) {
  const mapper = async (x) => x + run;
  const source = run % 3 === 0 ? generated(n) : run % 3 === 1 ? Array.from({ length: n }, (_, i) => i) : synchronous(n);
  const start = performance.now();
  const iterable =
    impl === 'p-map'
      ? pMapIterable(source, mapper, { concurrency: 64 })
      : map(source, mapper, { concurrency: 64, ordered: impl !== 'sluice-unordered' });
  let count = 0;
  for await (const _ of iterable) count++;
  if (count !== n) throw new Error(`${impl}: ${count} items, expected ${n}`);
  out.push(n / ((performance.now() - start) / 1000));
}
console.log(JSON.stringify(out));
