import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';

/** The Redis the tests use: REDIS_URL, or the local default. */
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Run the child fixture; resolve with its one line of JSON output. */
export function child<T>(task: Record<string, unknown>): {
  process: ChildProcess;
  result: Promise<T>;
  firstLine: Promise<T>;
} {
  const proc = spawn(
    process.execPath,
    [new URL('./fixtures/redis-child.mjs', import.meta.url).pathname, JSON.stringify(task)],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  let lineResolve: (value: T) => void;
  const firstLine = new Promise<T>((resolve) => {
    lineResolve = resolve;
  });
  proc.stdout?.on('data', (chunk: Buffer) => {
    out += chunk.toString();
    const newline = out.indexOf('\n');
    if (newline >= 0) lineResolve(JSON.parse(out.slice(0, newline)) as T);
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    err += chunk.toString();
  });
  const result = once(proc, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`child exited with ${code}: ${err}`);
    return JSON.parse(out.trim().split('\n').pop() as string) as T;
  });
  return { process: proc, result, firstLine };
}

async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  server.close();
  await once(server, 'close');
  return port;
}

/** A private redis-server that a test may stop and restart (the shared one must stay up). */
export class OwnRedis {
  process: ChildProcess | undefined;
  private constructor(readonly port: number) {}

  static async start(): Promise<OwnRedis> {
    const own = new OwnRedis(await freePort());
    await own.start();
    return own;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    this.process = proc;
    let log = '';
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.stdout?.on('data', (chunk: Buffer) => {
        log += chunk.toString();
        if (log.includes('Ready to accept connections')) resolve();
      });
      proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${log}`)));
    });
  }

  async stop(): Promise<void> {
    const proc = this.process;
    if (proc === undefined || proc.exitCode !== null) return;
    proc.kill('SIGKILL');
    await once(proc, 'exit');
    this.process = undefined;
  }
}

/** Whether `redis-server` can be started here (the restart/stop tests need their own server). */
export async function canStartRedis(): Promise<boolean> {
  const proc = spawn('redis-server', ['--version'], { stdio: 'ignore' });
  try {
    const [code] = await Promise.race([once(proc, 'exit'), once(proc, 'error').then(() => [1])]);
    return code === 0;
  } catch {
    return false;
  }
}

export function ioredis(url = REDIS_URL): Redis {
  return new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: false });
}

/**
 * A loopback TCP proxy in front of a Redis that can stop forwarding (both
 * ways, connections kept open): a network partition for the clients behind it
 * only.
 */
export class DropProxy {
  #dropping = false;
  readonly #sockets = new Set<Socket>();
  private constructor(
    readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<DropProxy> {
    let proxy: DropProxy | undefined;
    const server = createServer((client) => {
      const upstream = connect(targetPort, '127.0.0.1');
      for (const [from, to] of [
        [client, upstream],
        [upstream, client],
      ] as const) {
        from.on('data', (chunk) => {
          if (!proxy?.dropping) to.write(chunk);
        });
        from.on('error', () => to.destroy());
        from.on('close', () => to.destroy());
        proxy?.track(from);
      }
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    proxy = new DropProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  get dropping(): boolean {
    return this.#dropping;
  }
  /** Stop (true) or resume (false) forwarding. */
  drop(value: boolean): void {
    this.#dropping = value;
  }
  track(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
  }
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    this.server.close();
    await once(this.server, 'close');
  }
}
