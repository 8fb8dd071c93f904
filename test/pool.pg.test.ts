import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Pool } from '../src/index.js';

// Real PostgreSQL (DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test),
// real pg.Client resources.
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

let admin: pg.Client;
beforeAll(async () => {
  admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
});
afterAll(async () => {
  await admin.end();
});

/** A pool of pg clients tagged with an application_name, so the test can find (and kill) their backends. */
function pgPool(app: string) {
  const broken = new Set<pg.Client>();
  const pool = new Pool<pg.Client>({
    min: 2,
    max: 5,
    acquireTimeout: 10_000,
    createTimeout: 5000,
    validateAfterIdle: 0,
    create: async () => {
      const client = new pg.Client({ connectionString: DATABASE_URL, application_name: app });
      // A killed backend surfaces as an 'error' event; without a listener it would crash the process.
      client.on('error', () => broken.add(client));
      await client.connect();
      return client;
    },
    // A real check, like HikariCP's isValid: a killed backend fails it even
    // before the driver has noticed the socket close.
    validate: async (client) =>
      !broken.has(client) &&
      (await client.query('SELECT 1').then(
        () => true,
        () => false,
      )),
    destroy: async (client) => {
      await client.end().catch(() => {});
    },
  });
  const query = async (sql: string, values: unknown[] = []) => {
    const lease = await pool.acquire();
    try {
      const result = await lease.resource.query(sql, values);
      lease.release();
      return result;
    } catch (error) {
      lease.release(error); // a failed connection is destroyed, not lent again
      throw error;
    }
  };
  return { pool, query, broken };
}

const tick = () => new Promise((resolve) => setImmediate(resolve));

const backends = async (app: string) =>
  Number(
    (await admin.query('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [app])).rows[0].n,
  );

describe('Pool with real pg clients', () => {
  it('200 concurrent queries through 5 connections, with backends killed mid-run', async () => {
    const app = `sluice-test-${randomUUID().slice(0, 8)}`;
    const { pool, query } = pgPool(app);
    let started = 0;
    const killed: number[] = [];
    const runs = Array.from({ length: 200 }, async (_, i) => {
      started++;
      const { rows } = await query('SELECT pg_sleep(0.005), $1::int AS i', [i]);
      return rows[0].i as number;
    });
    const settled = Promise.allSettled(runs); // observe every outcome from the start
    // While the first ones run, kill every backend the pool has open.
    while (pool.stats().running < 5) await new Promise((resolve) => setImmediate(resolve));
    const result = await admin.query(
      'SELECT pg_terminate_backend(pid) AS ok, pid FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    for (const row of result.rows) if (row.ok) killed.push(row.pid);
    const outcomes = await settled;
    expect(started).toBe(200);
    expect(killed.length).toBeGreaterThanOrEqual(1);
    const failures = outcomes.filter((o) => o.status === 'rejected').map((o) => (o as PromiseRejectedResult).reason);
    const successes = outcomes.filter((o) => o.status === 'fulfilled');
    expect(successes.length + failures.length).toBe(200);
    // Only the queries that were on a killed connection fail, each with the driver's clear error.
    expect(failures.length).toBeLessThanOrEqual(killed.length);
    for (const error of failures) {
      expect(String((error as Error).message)).toMatch(
        /terminating connection due to administrator command|Connection terminated|not queryable/,
      );
    }
    // The killed connections were destroyed and replaced; the pool works.
    expect(pool.stats().destroyed).toBeGreaterThanOrEqual(failures.length);
    const { rows } = await query('SELECT 42 AS answer');
    expect(rows[0].answer).toBe(42);
    expect(pool.stats().size).toBeLessThanOrEqual(5);
    await pool.close();
    expect(pool.stats()).toMatchObject({ size: 0, running: 0 });
    expect(pool.stats().destroyed).toBe(pool.stats().created);
    expect(await backends(app)).toBe(0);
  }, 60_000);

  it('validation catches connections killed while idle', async () => {
    const app = `sluice-test-${randomUUID().slice(0, 8)}`;
    const { pool, query, broken } = pgPool(app);
    while (pool.stats().size < 2 || pool.stats().creating > 0) await tick(); // min is filled
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
    while (broken.size < 2) await tick(); // both drivers have seen their socket close
    expect(pool.stats()).toMatchObject({ idle: 2, destroyed: 0 });
    const { rows } = await query('SELECT 7 AS n');
    expect(rows[0].n).toBe(7);
    // Both dead connections failed validation and were replaced.
    expect(pool.stats().destroyed).toBe(2);
    await pool.close();
    expect(pool.stats().destroyed).toBe(pool.stats().created);
  }, 30_000);

  for (const withValidate of [false, true]) {
    it(`one killed backend costs only the call that was using it (1 client, 50 queued, ${withValidate ? 'with' : 'without'} validate)`, async () => {
      const app = `sluice-test-${randomUUID().slice(0, 8)}`;
      const pool = new Pool<pg.Client>({
        max: 1,
        acquireTimeout: 20_000,
        create: async () => {
          const client = new pg.Client({ connectionString: DATABASE_URL, application_name: app });
          client.on('error', () => {}); // a killed backend is an 'error' event; the failed query says the rest
          await client.connect();
          return client;
        },
        ...(withValidate
          ? {
              validate: (client: pg.Client) =>
                client.query('SELECT 1').then(
                  () => true,
                  () => false,
                ),
            }
          : {}),
        destroy: (client) => client.end().catch(() => {}),
      });
      let running!: () => void;
      const started = new Promise<void>((resolve) => (running = resolve));
      const calls = Array.from({ length: 50 }, (_, i) =>
        pool.use(async (client) => {
          if (i === 0) running();
          const { rows } = await client.query('SELECT pg_sleep(0.02), $1::int AS i', [i]);
          return rows[0].i as number;
        }),
      );
      const settled = Promise.allSettled(calls); // observed from the start: a failure is never unhandled
      await started;
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
      const outcomes = await settled;
      // The call running on the killed backend fails (call 0, unless the kill came late and
      // caught a later one); every call behind it gets a live connection.
      const failed = outcomes.flatMap((o, i) => (o.status === 'rejected' ? [i] : []));
      expect(failed.length).toBeLessThanOrEqual(1);
      for (const [i, o] of outcomes.entries()) if (o.status === 'fulfilled') expect(o.value).toBe(i);
      expect(pool.stats().created).toBe(1 + failed.length);
      await pool.close();
      expect(await backends(app)).toBe(0);
    }, 30_000);
  }
});
