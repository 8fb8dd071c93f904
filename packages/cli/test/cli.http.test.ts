import { writeFileSync } from 'node:fs';
import { createServer as createHttpServer, type ServerResponse } from 'node:http';
import { createServer } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Service } from '../src/demo/Service.js';
import { records, scratch, sluice, startSluice } from './helpers.js';

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('sluice run --http', () => {
  let tmp: ReturnType<typeof scratch>;
  beforeEach(() => {
    tmp = scratch();
  });
  afterEach(() => tmp.remove());

  it('a result carries the status and the body; 500s and refused connections are retried', async () => {
    const service = new Service({ failRate: 0 });
    const url = await service.start();
    try {
      const ran = await sluice(
        ['run', '--keep-order', '--no-journal', '--retries', '2', '--backoff', '1ms', '--http', `GET ${url}/items/{}`],
        {
          cwd: tmp.dir,
          stdin: 'a\nb c\n',
        },
      );
      expect(ran.code).toBe(0);
      expect(records(ran.stdout)).toMatchObject([
        { status: 'ok', httpStatus: 200, body: '{"id":"a"}', attempts: 1 },
        { status: 'ok', httpStatus: 200, body: '{"id":"b%20c"}' },
      ]);
    } finally {
      await service.close();
    }
    const flaky = new Service({ failRate: 1 });
    const flakyUrl = await flaky.start();
    try {
      const ran = await sluice(
        ['run', '--no-journal', '--retries', '2', '--backoff', '1ms', '--http', `GET ${flakyUrl}/items/{}`],
        {
          cwd: tmp.dir,
          stdin: 'a\n',
        },
      );
      expect(ran.code).toBe(1);
      expect(records(ran.stdout)[0]).toMatchObject({
        status: 'failed',
        httpStatus: 500,
        attempts: 3,
        error: 'HTTP 500',
      });
      const missing = await sluice(
        [
          'run',
          '--no-journal',
          '--retries',
          '2',
          '--http',
          `GET ${flakyUrl.replace(/\d+$/, String(await closedPort()))}/x/{}`,
        ],
        {
          cwd: tmp.dir,
          stdin: 'a\n',
        },
      );
      expect(records(missing.stdout)[0]).toMatchObject({ status: 'failed', attempts: 3 });
      expect(String(records(missing.stdout)[0]?.error)).toMatch(/ECONNREFUSED/);
    } finally {
      await flaky.close();
    }
  });

  it('--halt now,fail=1 ends the requests in flight (exit 3); they are not journaled', async () => {
    const slow = new Service({ latency: 120_000 });
    const url = await slow.start();
    const port = Number(new URL(url).port);
    const closed = await closedPort();
    const lines = [1, 2, 3, 4].map((id) => JSON.stringify({ port, id }));
    try {
      writeFileSync(tmp.path('in.ndjson'), `${[...lines, JSON.stringify({ port: closed, id: 5 })].join('\n')}\n`);
      const ran = await sluice(
        ['run', '-i', 'in.ndjson', '-c', '8', '--halt', 'now,fail=1', '--http', 'GET http://127.0.0.1:{port}/x/{id}'],
        {
          cwd: tmp.dir,
        },
      );
      expect(ran.code).toBe(3);
      expect(records(ran.stdout).map((r) => r.status)).toEqual(['failed']);
      expect(ran.stderr).toMatch(/halted: 1 failed/);
    } finally {
      await slow.close();
    }
  });

  it('a second SIGINT ends the requests in flight (exit 130)', async () => {
    const slow = new Service({ latency: 120_000 });
    const url = await slow.start();
    try {
      const run = startSluice(['run', '-c', '4', '--http', `GET ${url}/x/{}`], { cwd: tmp.dir, stdin: '1\n2\n3\n' });
      while (slow.peak < 3) await new Promise((resolve) => setTimeout(resolve, 10));
      run.child.kill('SIGINT');
      await run.stderr(/SIGINT: starting nothing more/);
      run.child.kill('SIGINT');
      const ended = await run.done;
      expect(ended.code).toBe(130);
      expect(ended.stdout).toBe('');
      expect(ended.stderr).toMatch(/3 items left unfinished/);
    } finally {
      await slow.close();
    }
  });

  it('sends the path and query (no fragment); --timeout ends a request that hangs; a body is cut at --max-output', async () => {
    const seen: string[] = [];
    const hanging: ServerResponse[] = [];
    const server = createHttpServer((request, response) => {
      seen.push(request.url ?? '');
      if (request.url?.startsWith('/hang')) {
        hanging.push(response);
        return;
      }
      if (request.url?.startsWith('/big')) {
        // Chunked (no length known ahead): read as it comes, kept up to the cap.
        response.write('x'.repeat(30_000));
        response.end('y'.repeat(30_000));
        return;
      }
      response.end('ok');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      const query = await sluice(['run', '--keep-order', '--no-journal', '--http', `GET ${base}?id={}#top`], {
        cwd: tmp.dir,
        stdin: 'a\nb\n',
      });
      expect(query.code).toBe(0);
      expect(seen).toEqual(['/?id=a', '/?id=b']);
      const hang = await sluice(
        [
          'run',
          '--no-journal',
          '--timeout',
          '200ms',
          '--retries',
          '1',
          '--backoff',
          '1ms',
          '--http',
          `GET ${base}/hang/{}`,
        ],
        { cwd: tmp.dir, stdin: 'a\n' },
      );
      expect(hang.code).toBe(1);
      expect(records(hang.stdout)[0]).toMatchObject({ status: 'failed', attempts: 2, error: 'timed out after 200 ms' });
      expect(hanging).toHaveLength(2);
      const big = await sluice(['run', '--no-journal', '--max-output', '64k', '--http', `GET ${base}/big/{}`], {
        cwd: tmp.dir,
        stdin: 'a\n',
      });
      expect(records<{ body: string }>(big.stdout)[0]).toMatchObject({ status: 'ok', httpStatus: 200 });
      expect(records<{ body: string }>(big.stdout)[0]?.body).toBe(`${'x'.repeat(30_000)}${'y'.repeat(30_000)}`);
      const cut = await sluice(['run', '--no-journal', '--max-output', '10', '--http', `GET ${base}/big/{}`], {
        cwd: tmp.dir,
        stdin: 'a\n',
      });
      expect(records(cut.stdout)[0]).toMatchObject({ status: 'ok', body: 'xxxxxxxxxx', truncated: true });
      const credentials = await sluice(['run', '--no-journal', '--http', `GET http://user:secret@127.0.0.1:1/{}`], {
        cwd: tmp.dir,
        stdin: 'a\n',
      });
      expect(credentials.code).toBe(1);
      expect(records(credentials.stdout)[0]).toMatchObject({ status: 'failed', attempts: 1 });
      expect(String(records(credentials.stdout)[0]?.error)).toMatch(/credentials in the URL are not sent.*--header/);
    } finally {
      for (const response of hanging) response.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
