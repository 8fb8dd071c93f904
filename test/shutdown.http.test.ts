/**
 * Shutdown of a real HTTP service in a child process, with keep-alive
 * clients and SIGTERM: in-flight requests are answered (and told
 * `Connection: close`), idle keep-alive connections are closed, the queue
 * behind the handlers closes only after them, and the process exits 0 by
 * itself.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent, request } from 'node:http';
import { describe, expect, it } from 'vitest';

const fixture = new URL('./fixtures/shutdown-server.mjs', import.meta.url).pathname;

function get(agent: Agent, port: number, path: string) {
  return new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('Shutdown with an HTTP server', () => {
  it('SIGTERM with requests in flight on keep-alive connections: all answered 200, then the process exits 0', async () => {
    const child = spawn(process.execPath, [fixture], { stdio: ['ignore', 'pipe', 'inherit'] });
    const lines: string[] = [];
    let buffer = '';
    const line = () =>
      new Promise<string>((resolve) => {
        const check = () => {
          const next = lines.shift();
          if (next === undefined) child.stdout.once('data', check);
          else resolve(next);
        };
        check();
      });
    child.stdout.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const parts = buffer.split('\n');
      buffer = parts.pop() as string;
      lines.push(...parts);
    });
    const exited = once(child, 'exit');
    const { port } = JSON.parse(await line()) as { port: number };
    const agent = new Agent({ keepAlive: true, maxSockets: 6 });
    try {
      // Two connections left idle in the agent's pool, then four requests in flight.
      await Promise.all([get(agent, port, '/warm-1'), get(agent, port, '/warm-2')]);
      const inFlight = Array.from({ length: 4 }, (_, i) => get(agent, port, `/job-${i}`));
      for (let i = 0; i < 4; i++) expect(await line()).toMatch(/"started":"\/job-\d"/); // all four in the handlers
      child.kill('SIGTERM');
      const answers = await Promise.all(inFlight);
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
      expect(answers.map((a) => a.body)).toEqual([0, 1, 2, 3].map((i) => `job for /job-${i}`));
      expect(answers.every((a) => a.connection === 'close')).toBe(true);
      const report = JSON.parse(await line()) as { graceful: boolean; steps: string[] };
      expect(report).toEqual({ graceful: true, steps: ['http:closed', 'jobs:closed'] });
      // Nobody closed the agent's idle connections from this side: the server did, so the process could exit.
      const [code, signal] = await exited;
      expect({ code, signal }).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
      child.kill('SIGKILL');
    }
  }, 20_000);
});
