import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
  #holding = false;
  readonly #held: [Socket, Buffer][] = [];
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
        from.on('data', (chunk: Buffer) => proxy?.forward(to, chunk));
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
  /** Stop (true) or resume (false) forwarding; what arrives meanwhile is lost. */
  drop(value: boolean): void {
    this.#dropping = value;
  }
  /** Hold (true) what arrives, or deliver it all and go on (false): a slow network, nothing lost. */
  hold(value: boolean): void {
    this.#holding = value;
    if (!value) for (const [to, chunk] of this.#held.splice(0)) to.write(chunk);
  }
  forward(to: Socket, chunk: Buffer): void {
    if (this.#dropping) return;
    if (this.#holding) this.#held.push([to, chunk]);
    else to.write(chunk);
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

/**
 * A private 3-node Redis Cluster (masters only) on free loopback ports, for
 * the cluster tests. Each node's cluster state lives in a temporary folder.
 */
export class OwnCluster {
  private constructor(
    readonly ports: number[],
    readonly processes: ChildProcess[],
    readonly dir: string,
  ) {}

  static async start(): Promise<OwnCluster> {
    const dir = mkdtempSync(join(tmpdir(), 'sluice-cluster-'));
    const ports: number[] = [];
    // Cluster nodes also listen on port + 10000 (the cluster bus): pick ports whose bus port is free too.
    while (ports.length < 3) {
      const port = await freePort();
      if (port + 10000 < 65536 && !ports.includes(port)) ports.push(port);
    }
    const processes = ports.map((port) => {
      const proc = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--save',
          '',
          '--appendonly',
          'no',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          join(dir, `nodes-${port}.conf`),
          '--dir',
          dir,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      return proc;
    });
    await Promise.all(
      processes.map(
        (proc) =>
          new Promise<void>((resolve, reject) => {
            let log = '';
            proc.stdout?.on('data', (chunk: Buffer) => {
              log += chunk.toString();
              if (log.includes('Ready to accept connections')) resolve();
            });
            proc.once('exit', (code) => reject(new Error(`redis-server exited with ${code}: ${log}`)));
          }),
      ),
    );
    const create = spawn(
      'redis-cli',
      ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    create.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    create.stderr?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const [code] = await once(create, 'exit');
    const cluster = new OwnCluster(ports, processes, dir);
    if (code !== 0) {
      await cluster.stop();
      throw new Error(`redis-cli --cluster create failed: ${out}`);
    }
    // Every node must agree the cluster is up before clients use it.
    for (const port of ports) {
      const node = new Redis(port, '127.0.0.1');
      for (let i = 0; i < 200; i++) {
        const info = String(await node.call('CLUSTER', 'INFO'));
        if (info.includes('cluster_state:ok')) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      node.disconnect();
    }
    return cluster;
  }

  get nodes(): { host: string; port: number }[] {
    return this.ports.map((port) => ({ host: '127.0.0.1', port }));
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.processes.map(async (proc) => {
        if (proc.exitCode !== null) return;
        proc.kill('SIGKILL');
        await once(proc, 'exit');
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
  }
}
