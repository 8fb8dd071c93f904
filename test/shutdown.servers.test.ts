/**
 * The server phase of `Shutdown` for `https` and `http2` servers registered
 * as they are (the `http` one runs end to end in a child process in
 * shutdown.http.test.ts): requests in flight are answered, idle keep-alive
 * connections and HTTP/2 sessions are closed by the server (GOAWAY for
 * HTTP/2), the phase ends `closed` (not `destroyed` at its deadline) and the
 * port stops accepting.
 */
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { type ClientHttp2Session, connect, createServer as createH2cServer, createSecureServer } from 'node:http2';
import { Agent, createServer as createHttpsServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Shutdown } from '../src/index.js';

const key = readFileSync(new URL('./fixtures/localhost-key.pem', import.meta.url));
const cert = readFileSync(new URL('./fixtures/localhost-cert.pem', import.meta.url));

/** Handlers for `/slow` wait until `release()`; `started` resolves once `n` of them are in. */
function gate(n: number) {
  let open!: () => void;
  const released = new Promise<void>((resolve) => {
    open = resolve;
  });
  let count = 0;
  let allIn!: () => void;
  const started = new Promise<void>((resolve) => {
    allIn = resolve;
  });
  return {
    released,
    started,
    release: open,
    arrived() {
      if (++count === n) allIn();
    },
  };
}

const port = (server: { address(): unknown }) => (server.address() as AddressInfo).port;

// A grace period far above what a graceful close takes: a phase that had to wait for it would
// end `destroyed`, and the report says so.
const shutdownOf = (name: string, server: Parameters<Shutdown['register']>[1]) =>
  new Shutdown({ gracePeriod: 4000 }).register(name, server);

describe('Shutdown with https and http2 servers', () => {
  it('https: in-flight requests answered with Connection: close, the idle keep-alive connection closed', async () => {
    const slow = gate(2);
    const server = createHttpsServer({ key, cert }, async (req, res) => {
      if (req.url === '/slow') {
        slow.arrived();
        await slow.released;
      }
      res.end(`done ${req.url}`);
    });
    server.keepAliveTimeout = 60_000;
    const shutdown = shutdownOf('https', server); // registered at start, as a service does
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const at = port(server);
    const agent = new Agent({ keepAlive: true, ca: cert, maxSockets: 3 });
    const get = (path: string) =>
      new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
        const req = request({ host: '127.0.0.1', port: at, path, agent, servername: 'localhost' }, (res) => {
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
    try {
      expect((await get('/warm')).status).toBe(200); // one connection left idle in the agent
      const inFlight = [get('/slow'), get('/slow')];
      await slow.started;
      const report = shutdown.run();
      slow.release();
      const answers = await Promise.all(inFlight);
      expect(answers).toEqual([
        { status: 200, connection: 'close', body: 'done /slow' },
        { status: 200, connection: 'close', body: 'done /slow' },
      ]);
      const { graceful, steps } = await report;
      expect({ graceful, steps: steps.map((s) => `${s.name}:${s.outcome}`) }).toEqual({
        graceful: true,
        steps: ['https:closed'],
      });
      expect(server.listening).toBe(false);
      await expect(get('/late')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      shutdown.dispose();
      agent.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it('https registered while requests are in flight: answered, and their connections closed once idle', async () => {
    const slow = gate(1);
    const server = createHttpsServer({ key, cert }, async (req, res) => {
      slow.arrived();
      await slow.released;
      res.end(`done ${req.url}`);
    });
    server.keepAliveTimeout = 60_000;
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const agent = new Agent({ keepAlive: true, ca: cert });
    const answer = new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: port(server), path: '/early', agent, servername: 'localhost' });
      req.on('response', (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end();
    });
    await slow.started;
    const shutdown = shutdownOf('https', server); // too late to see that request
    try {
      const report = shutdown.run();
      slow.release();
      expect(await answer).toBe(200);
      // Its keep-alive connection (kept for 60 s otherwise) is swept once idle: closed, not destroyed.
      expect((await report).steps.map((s) => `${s.name}:${s.outcome}`)).toEqual(['https:closed']);
    } finally {
      agent.destroy();
      server.closeAllConnections();
      server.close();
    }
  });

  it.each([
    ['http2 (TLS, stream API)', true],
    ['http2 (cleartext, compatibility API)', false],
  ])('%s: GOAWAY, streams in flight answered, an idle session closed', async (_name, secure) => {
    const slow = gate(2);
    const answer = async (path: string, respond: (body: string) => void) => {
      if (path === '/slow') {
        slow.arrived();
        await slow.released;
      }
      respond(`done ${path}`);
    };
    const server = secure ? createSecureServer({ key, cert }) : createH2cServer();
    if (secure) {
      server.on('stream', (stream, headers) => {
        void answer(String(headers[':path']), (body) => {
          stream.respond({ ':status': 200 });
          stream.end(body);
        });
      });
    } else {
      server.on('request', (req, res) => {
        void answer(req.url, (body) => res.end(body));
      });
    }
    const shutdown = shutdownOf('h2', server);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const url = `${secure ? 'https' : 'http'}://127.0.0.1:${port(server)}`;
    const open = () => connect(url, secure ? { ca: cert, servername: 'localhost' } : {});
    const get = (session: ClientHttp2Session, path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': path });
        let status = 0;
        let body = '';
        stream.on('response', (headers) => {
          status = Number(headers[':status']);
        });
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          body += chunk;
        });
        stream.on('end', () => resolve({ status, body }));
        stream.on('error', reject);
        stream.end();
      });
    const busy = open();
    const idle = open();
    try {
      expect(await get(idle, '/warm')).toEqual({ status: 200, body: 'done /warm' });
      const goaway = once(busy, 'goaway');
      const inFlight = [get(busy, '/slow'), get(busy, '/slow')];
      await slow.started;
      const report = shutdown.run();
      await goaway; // told before its streams end
      slow.release();
      expect(await Promise.all(inFlight)).toEqual([
        { status: 200, body: 'done /slow' },
        { status: 200, body: 'done /slow' },
      ]);
      const { graceful, steps } = await report;
      expect({ graceful, steps: steps.map((s) => `${s.name}:${s.outcome}`) }).toEqual({
        graceful: true,
        steps: ['h2:closed'],
      });
      expect(idle.closed || idle.destroyed).toBe(true);
      expect(server.listening).toBe(false);
    } finally {
      shutdown.dispose();
      busy.destroy();
      idle.destroy();
      server.close();
    }
  });
});
