import type { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** What a Node server (`net`, `http`, `https`, `http2`) looks like to `Shutdown`. */
export interface ServerLike extends EventEmitter {
  listen(...args: never[]): unknown;
  close(callback?: (error?: Error) => void): unknown;
}

/** A response of `http`/`https` (`http2` compatibility responses too). */
interface ResponseLike {
  readonly headersSent: boolean;
  setHeader(name: string, value: string): unknown;
  once(event: 'finish' | 'close', listener: () => void): unknown;
}

/** An `http2` session. */
interface SessionLike extends EventEmitter {
  close(callback?: () => void): void;
  destroy(): void;
  readonly closed: boolean;
}

/** Whether `part` is a Node server (its `close()` returns the server, not a promise). */
export function isServer(part: unknown): part is ServerLike {
  const p = part as Partial<ServerLike> | null;
  return (
    typeof p === 'object' &&
    p !== null &&
    typeof p.listen === 'function' &&
    typeof p.close === 'function' &&
    typeof p.on === 'function'
  );
}

/**
 * The shutdown phase of a server, watching it from registration on:
 * `close()` stops accepting connections, answers every request still in
 * flight with `Connection: close` (HTTP/1) or sends GOAWAY (HTTP/2), closes
 * idle keep-alive connections at once and each busy one as its response
 * ends, and resolves once the last connection is gone. `destroy()` (at the
 * phase's deadline) closes every connection now.
 *
 * Register servers when they start: a request already in flight at
 * registration is not seen, so it is not told `Connection: close`; its
 * connection is closed once idle by a sweep every 250 ms while closing.
 */
export class ServerPhase {
  readonly #server: ServerLike;
  readonly #sockets = new Set<Socket>();
  readonly #responses = new Set<ResponseLike>();
  readonly #sessions = new Set<SessionLike>();
  #closing = false;

  constructor(server: ServerLike) {
    this.#server = server;
    server.on('connection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('secureConnection', (socket: Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (_request: unknown, response: ResponseLike) => {
      if (this.#closing) this.#lastResponse(response);
      this.#responses.add(response);
      const done = () => {
        this.#responses.delete(response);
        // Its connection is idle now (or about to be): close it once the response is out.
        if (this.#closing) setImmediate(() => this.#closeIdle());
      };
      response.once('finish', done);
      response.once('close', done);
    });
    server.on('session', (session: SessionLike) => {
      this.#sessions.add(session);
      session.once('close', () => this.#sessions.delete(session));
      if (this.#closing) session.close();
    });
  }

  close(): Promise<void> {
    this.#closing = true;
    const sweep = setInterval(() => this.#closeIdle(), 250);
    sweep.unref();
    const closed = new Promise<void>((resolve) => {
      // The callback runs once every connection has ended; an error means it was not listening.
      this.#server.close(() => {
        clearInterval(sweep);
        resolve();
      });
    });
    for (const response of this.#responses) this.#lastResponse(response);
    for (const session of this.#sessions) session.close();
    this.#closeIdle();
    return closed;
  }

  #closeIdle(): void {
    const server = this.#server as ServerLike & { closeIdleConnections?(): void };
    if (typeof server.closeIdleConnections === 'function') server.closeIdleConnections();
  }

  destroy(): void {
    const server = this.#server as ServerLike & { closeAllConnections?(): void };
    if (typeof server.closeAllConnections === 'function') server.closeAllConnections();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#sockets) socket.destroy();
  }

  /** The response ends its connection: `Connection: close`, when its headers are not out yet. */
  #lastResponse(response: ResponseLike): void {
    if (!response.headersSent) {
      try {
        response.setHeader('Connection', 'close');
      } catch {
        // HTTP/2 compatibility responses refuse connection headers; their session's GOAWAY does it.
      }
    }
  }
}
