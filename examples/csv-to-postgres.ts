// The CSV scenario: a large CSV streamed into PostgreSQL without loading it,
// with at most 20 inserts in flight, rows batched 500 per INSERT.
// Run with a PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { batch, forEach, Pool } from 'sluice';

const ROWS = 300_000;
const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const file = join(tmpdir(), `sluice-users-${process.pid}.csv`);
const table = `csv_import_${process.pid}`;

// 1. A CSV of ROWS users, written as a stream.
await pipeline(
  (function* () {
    yield 'id,name,email\n';
    for (let i = 1; i <= ROWS; i++) yield `${i},user ${i},user${i}@example.com\n`;
  })(),
  createWriteStream(file),
);

const db = new Pool<pg.Client>({
  max: 20,
  create: async () => {
    const client = new pg.Client({ connectionString, application_name: 'sluice-csv-example' });
    await client.connect();
    return client;
  },
  destroy: (client) => client.end(),
});
await db.use((c) => c.query(`CREATE TABLE ${table} (id int PRIMARY KEY, name text NOT NULL, email text NOT NULL)`));

// Lines of the file (a Transform that keeps the partial last line).
let rest = '';
const lines = new Transform({
  readableObjectMode: true,
  transform(chunk: Buffer, _encoding, callback) {
    const parts = (rest + chunk.toString('utf8')).split('\n');
    rest = parts.pop() ?? '';
    for (const line of parts) this.push(line);
    callback();
  },
  flush(callback) {
    if (rest !== '') this.push(rest);
    callback();
  },
});

let inFlight = 0;
let maxInFlight = 0;
let peakRss = 0;
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
}, 20);
const started = performance.now();

// 2. Stream it: parse, batch 500 rows, at most 20 INSERTs at once. The file is
//    read only as fast as the inserts finish (backpressure end to end).
await pipeline(createReadStream(file), lines, async (source: AsyncIterable<string>) => {
  async function* rows() {
    for await (const line of source) {
      if (line === '' || line.startsWith('id,')) continue;
      const [id, name, email] = line.split(',');
      yield [Number(id), name, email] as const;
    }
  }
  await forEach(
    batch(rows(), { maxBatch: 500 }),
    async (group) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const values = group.map((_, i) => `($${3 * i + 1}, $${3 * i + 2}, $${3 * i + 3})`).join(', ');
        await db.use((c) => c.query(`INSERT INTO ${table} (id, name, email) VALUES ${values}`, group.flat()));
      } finally {
        inFlight--;
      }
    },
    { concurrency: 20 },
  );
});
const seconds = (performance.now() - started) / 1000;
clearInterval(sampler);

// 3. Every row exactly once.
const { rows } = await db.use((c) =>
  c.query(`SELECT count(*)::int AS n, count(DISTINCT id)::int AS distinct_ids, sum(id)::bigint AS total FROM ${table}`),
);
const expectedTotal = (ROWS * (ROWS + 1)) / 2;
const check = rows[0] as { n: number; distinct_ids: number; total: string };
console.log(
  `${check.n} rows imported in ${seconds.toFixed(1)} s, ${check.distinct_ids} distinct ids, checksum ${Number(check.total) === expectedTotal ? 'ok' : 'WRONG'}`,
);
console.log(
  `at most ${maxInFlight} inserts in flight; peak RSS ${Math.round(peakRss / 2 ** 20)} MiB for a ${ROWS.toLocaleString('en-US')}-row file`,
);

await db.use((c) => c.query(`DROP TABLE ${table}`));
await db.close();
await rm(file);
