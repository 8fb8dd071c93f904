// A pool of PostgreSQL connections (pg.Client) with sluice's Pool.
// Run with a PostgreSQL at DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test).
import pg from 'pg';
import { Pool } from 'sluice';

const connectionString = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const db = new Pool<pg.Client>({
  min: 2,
  max: 10,
  acquireTimeout: 5_000, // a caller never waits forever
  createTimeout: 5_000, // a connect that arrives later is closed, not leaked
  maxLifetime: 30 * 60_000, // reconnect every ~30 min, spread by jitter
  idleTimeout: 60_000,
  create: async () => {
    const client = new pg.Client({ connectionString, application_name: 'sluice-example' });
    client.on('error', () => {}); // a dropped connection fails its next query or validation
    await client.connect();
    return client;
  },
  destroy: (client) => client.end(),
  validate: (client) =>
    client.query('SELECT 1').then(
      () => true,
      () => false,
    ),
  // An SQL error leaves the connection sound; any other failure of use()'s work has it validated
  // before the next borrower (a killed backend is then destroyed, not lent again).
  isBroken: (error) => (error instanceof pg.DatabaseError && error.severity === 'ERROR' ? false : undefined),
  reset: async (client) => {
    await client.query('RESET ALL'); // session settings do not leak to the next borrower
  },
});

// use() borrows, runs, and gives back, even when the query throws.
const answers = await Promise.all(
  Array.from({ length: 100 }, (_, i) => db.use((client) => client.query('SELECT $1::int * 2 AS n', [i]))),
);
console.log(`100 queries, results ${answers[0]?.rows[0].n} .. ${answers[99]?.rows[0].n}`);

// A broken connection is destroyed, not lent again: release it with the error.
const lease = await db.acquire();
try {
  await lease.resource.query('SELECT pg_terminate_backend(pg_backend_pid())');
  lease.release();
} catch (error) {
  lease.release(error);
}
// Through use(), a connection whose backend died under the query is checked, then replaced.
await db
  .use((client) => client.query('SELECT pg_terminate_backend(pg_backend_pid())'))
  .catch((error: Error) => console.log(`the killed connection's own query failed: ${error.message}`));
await db
  .use((client) => client.query('SELECT * FROM no_such_table'))
  .catch((error: Error) => console.log(`an SQL error keeps its connection: ${error.message}`));
const { rows } = await db.use((client) => client.query('SELECT 1 AS ok'));
const stats = db.stats();
console.log(
  `after a killed connection: ok=${rows[0].ok}, opened ${stats.created}, destroyed ${stats.destroyed}, at most 10`,
);

await db.close();
console.log(`closed: ${db.stats().size} connections left`);
