/**
 * Before any test: the Redis and PostgreSQL servers the suite uses for real
 * must answer. When one does not, the run stops with one line saying which
 * server, where it was looked for, and how to point at another, instead of a
 * bare ECONNREFUSED in the middle of the output.
 */
import { Socket } from 'node:net';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

function reachable(url: string, defaultPort: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(2000, () => done(false));
    socket.once('error', () => done(false));
    socket.connect(Number(port || defaultPort), hostname.replace(/^\[|\]$/g, ''), () => done(true));
  });
}

export default async function setup(): Promise<void> {
  const missing: string[] = [];
  if (!(await reachable(REDIS_URL, 6379))) {
    missing.push(
      `Redis is not answering at ${REDIS_URL} (REDIS_URL): start one (redis-server --daemonize yes) or set REDIS_URL`,
    );
  }
  if (!(await reachable(DATABASE_URL, 5432))) {
    missing.push(
      `PostgreSQL is not answering at ${DATABASE_URL} (DATABASE_URL): start one or set DATABASE_URL (a database the tests may create tables in)`,
    );
  }
  if (missing.length > 0) throw new Error(missing.join('\n'));
}
