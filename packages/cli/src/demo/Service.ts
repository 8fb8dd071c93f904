// A local HTTP service for the demo and the tests: `capacity` workers that
// each take `latency` ms per request, a queue in front of them (latency grows
// past the capacity), 503 once the queue is full, and optional faults (a share
// of 500s, a 429 with Retry-After now and then). It counts what it served by
// item id, so a test can tell lost items from duplicates on the server's side.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServiceOptions {
  /** Requests served at once; more wait in the queue. @default Infinity */
  readonly capacity?: number;
  /** Ms a worker spends on a request. @default 0 */
  readonly latency?: number;
  /** Most requests queued beyond the capacity; one more is answered 503 at once. @default capacity */
  readonly queue?: number;
  /** Share of requests answered 500 (drawn from `random`). @default 0 */
  readonly failRate?: number;
  /** Answer every n-th request 429 with `Retry-After: retryAfter` (seconds). */
  readonly throttle?: { readonly every: number; readonly retryAfter: number };
  /** The service's published rate limit: past `limit` requests in any `interval` ms, 429 with `Retry-After: 1`. */
  readonly rateLimit?: { readonly limit: number; readonly interval: number };
  /** @default Math.random */
  readonly random?: () => number;
}

/** One request the service answered. */
export interface Served {
  readonly id: string;
  readonly at: number;
  readonly status: number;
}

export class Service {
  readonly #options: ServiceOptions;
  readonly #server: Server;
  readonly #queue: (() => void)[] = [];
  #busy = 0;
  #requests = 0;
  /** Arrival times within the rate limit's interval. */
  readonly #arrivals: number[] = [];
  /** Successful answers per item id (the last path segment). */
  readonly ok = new Map<string, number>();
  /** Every answer, in order, when `log` is on. */
  readonly log: Served[] = [];
  logging = false;
  /** Answers by status. */
  readonly statuses = new Map<number, number>();
  /** The most requests in the service at once (served + queued). */
  peak = 0;

  constructor(options: ServiceOptions = {}) {
    this.#options = options;
    this.#server = createServer((request, response) => this.#handle(request, response));
    this.#server.keepAliveTimeout = 30_000;
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.#server.closeAllConnections();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  #handle(request: IncomingMessage, response: ServerResponse): void {
    request.resume();
    request.on('end', () => this.#admit(request, response));
  }

  #admit(request: IncomingMessage, response: ServerResponse): void {
    const id = (request.url ?? '').split('/').pop() ?? '';
    const n = ++this.#requests;
    const { capacity = Number.POSITIVE_INFINITY, throttle, failRate = 0, random = Math.random } = this.#options;
    if (throttle !== undefined && n % throttle.every === 0) {
      this.#answer(id, response, 429, { 'retry-after': String(throttle.retryAfter) });
      return;
    }
    if (this.#overRate()) {
      this.#answer(id, response, 429, { 'retry-after': '1' });
      return;
    }
    if (this.#busy >= capacity && this.#queue.length >= (this.#options.queue ?? capacity)) {
      this.#answer(id, response, 503);
      return;
    }
    const serve = () => {
      this.#busy++;
      setTimeout(() => {
        this.#busy--;
        this.#answer(id, response, random() < failRate ? 500 : 200);
        this.#queue.shift()?.();
      }, this.#options.latency ?? 0);
    };
    if (this.#busy < capacity) serve();
    else this.#queue.push(serve);
    this.peak = Math.max(this.peak, this.#busy + this.#queue.length);
  }

  #overRate(): boolean {
    const rate = this.#options.rateLimit;
    if (rate === undefined) return false;
    const now = performance.now();
    while (this.#arrivals.length > 0 && now - (this.#arrivals[0] as number) >= rate.interval) this.#arrivals.shift();
    if (this.#arrivals.length >= rate.limit) return true;
    this.#arrivals.push(now);
    return false;
  }

  #answer(id: string, response: ServerResponse, status: number, headers: Record<string, string> = {}): void {
    if (status === 200) this.ok.set(id, (this.ok.get(id) ?? 0) + 1);
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
    if (this.logging) this.log.push({ id, at: performance.timeOrigin + performance.now(), status });
    response.writeHead(status, { 'content-type': 'application/json', ...headers });
    response.end(status === 200 ? `{"id":${JSON.stringify(id)}}` : `{"error":${status}}`);
  }
}
