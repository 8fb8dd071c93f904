// One HTTP request per item through undici's Agent (pooled, kept-alive
// connections; never the global fetch), dispatched with a handler of our own.
import { createHash } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import { type Action, type Attempt, abortText, type Outcome } from './Action.js';
import { Capture } from './Capture.js';
import type { Item } from './Item.js';
import { compileTemplate, type Template } from './template.js';
import { quoted, UsageError } from './UsageError.js';

export interface HttpOptions {
  /** `METHOD URL` (the method defaults to GET), placeholders in the URL percent-encoded. */
  readonly request: string;
  /** `Name: value` each, with placeholders. */
  readonly headers: readonly string[];
  /** The request body, with placeholders (`{json}` sends the item). */
  readonly body: string | undefined;
  /** Bytes of the response body kept per item. */
  readonly maxOutput: number;
  /** Most connections per origin. */
  readonly connections: number;
}

const METHODS = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)$/i;
const RETRYABLE_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_CLOSED',
]);

export class HttpAction implements Action {
  readonly fingerprint: string;
  readonly fields: readonly string[];
  readonly #method: string;
  readonly #url: Template;
  readonly #headers: readonly (readonly [string, Template])[];
  readonly #body: Template | undefined;
  readonly #agent: Agent;
  readonly #maxOutput: number;
  #watched: AbortSignal | undefined;

  constructor(options: HttpOptions) {
    const words = options.request.trim().split(/\s+/);
    const [method, url] =
      words.length === 1 ? ['GET', words[0] as string] : [words[0] as string, words.slice(1).join(' ')];
    if (!METHODS.test(method) || !/^https?:\/\/[^/{}]/.test(url)) {
      throw new UsageError(`--http expects 'METHOD http(s)://host/path', got ${quoted(options.request)}`);
    }
    this.#method = method.toUpperCase();
    this.#url = compileTemplate('--http', url, 'url');
    const headers = options.headers.map((header) => {
      const colon = header.indexOf(':');
      if (colon < 1) throw new UsageError(`--header expects 'Name: value', got ${quoted(header)}`);
      const name = header.slice(0, colon).trim().toLowerCase();
      return [name, compileTemplate('--header', header.slice(colon + 1).trim(), 'raw')] as const;
    });
    this.#body = options.body === undefined ? undefined : compileTemplate('--body', options.body, 'raw');
    if (
      this.#body !== undefined &&
      !headers.some(([name]) => name === 'content-type') &&
      /^\s*[[{]/.test(options.body ?? '')
    ) {
      headers.push(['content-type', compileTemplate('--body', 'application/json', 'raw')]);
    }
    this.#headers = headers;
    this.#maxOutput = options.maxOutput;
    this.#agent = new Agent({ connections: options.connections, keepAliveTimeout: 10_000 });
    this.fields = [this.#url, this.#body, ...headers.map(([, t]) => t)].flatMap((t) => t?.fields ?? []);
    const identity = {
      kind: 'http',
      method: this.#method,
      url,
      headers: headers.map(([name, t]) => `${name}: ${t.source}`),
      body: options.body,
    };
    this.fingerprint = createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  }

  describe(item: Item): string {
    const body = this.#body?.render(item);
    return `${this.#method} ${this.#url.render(item)}${body === undefined ? '' : ` ${body}`}`;
  }

  /** The host of the item's request URL: the default scope of `--per-key {host}`. */
  scopeOf(item: Item): string | undefined {
    try {
      return new URL(this.#url.render(item)).host;
    } catch {
      return undefined;
    }
  }

  prepare(item: Item): Attempt {
    const url = this.#url.render(item);
    const headers: Record<string, string> = {};
    for (const [name, template] of this.#headers) headers[name] = template.render(item);
    const body = this.#body?.render(item);
    return (signal, shared) => this.#send(url, headers, body, signal, shared);
  }

  /**
   * One request through the agent's `dispatch` with a handler of our own: no
   * response stream or body reader per request (about 40 % of what undici's
   * `request` costs here); the first --max-output bytes of the body are kept.
   */
  #send(
    url: string,
    headers: Record<string, string>,
    payload: string | undefined,
    signal: AbortSignal,
    shared: boolean,
  ): Promise<Outcome> {
    // A listener per request on the run's shared signal would cost each request one; it is
    // watched once and ends every request by destroying the agent.
    if (shared) this.#watch(signal);
    const target = splitUrl(url);
    if (typeof target === 'string') return Promise.resolve(failure(target, false, false));
    return new Promise<Outcome>((resolve) => {
      const handler = new Exchange(this.#maxOutput, signal, !shared, resolve);
      try {
        this.#agent.dispatch(
          { origin: target.origin, path: target.path, method: this.#method, headers, body: payload ?? null },
          handler,
        );
      } catch (error) {
        handler.onResponseError(undefined, error as Error);
      }
    });
  }

  #watch(signal: AbortSignal): void {
    if (this.#watched === signal) return;
    this.#watched = signal;
    const destroy = () => void this.#agent.destroy(signal.reason as Error).catch(() => {});
    if (signal.aborted) destroy();
    else signal.addEventListener('abort', destroy, { once: true });
  }

  close(): Promise<void> {
    return this.#agent.destroyed ? Promise.resolve() : this.#agent.close();
  }
}

/** One request's handler: what the response came to, as an Outcome (never an error). */
class Exchange implements Dispatcher.DispatchHandler {
  readonly #body: Capture;
  /** The attempt's signal; listened to unless it is the run's (watched once for every request). */
  readonly #signal: AbortSignal;
  readonly #resolve: (outcome: Outcome) => void;
  #controller: Dispatcher.DispatchController | undefined;
  #status = 0;
  #retryAfter: string | string[] | undefined;
  #onAbort: (() => void) | undefined;
  #settled = false;

  constructor(maxOutput: number, signal: AbortSignal, listen: boolean, resolve: (outcome: Outcome) => void) {
    this.#body = new Capture(maxOutput);
    this.#signal = signal;
    this.#resolve = resolve;
    if (!listen) return;
    // Listened to from the dispatch on: a request still queued for a connection ends at once too.
    this.#onAbort = () => {
      this.#controller?.abort(signal.reason as Error);
      this.#settle(failure(abortText(signal), true, true));
    };
    if (signal.aborted) this.#onAbort();
    else signal.addEventListener('abort', this.#onAbort, { once: true });
  }

  /** Called again when undici retries the request on another connection. */
  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.#settled) controller.abort(this.#signal.reason as Error);
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    // 1xx answers come before the response itself.
    if (statusCode < 200) return;
    this.#status = statusCode;
    this.#retryAfter = headers['retry-after'];
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.#body.add(chunk);
  }

  onResponseEnd(): void {
    this.#settle(classify(this.#status, this.#retryAfter, this.#body.text(), this.#body.truncated));
  }

  onResponseError(_controller: Dispatcher.DispatchController | undefined, error: Error): void {
    // Ended by the attempt's signal (a timeout, the run's end: the run's destroys the agent).
    if (this.#signal.aborted) {
      this.#settle(failure(abortText(this.#signal), true, true));
      return;
    }
    const code = (error as { code?: string }).code ?? '';
    this.#settle(
      failure(`${code ? `${code}: ` : ''}${error.message}`, RETRYABLE_CODES.has(code), code.includes('TIMEOUT')),
    );
  }

  #settle(outcome: Outcome): void {
    if (this.#settled) return;
    this.#settled = true;
    if (this.#onAbort !== undefined) this.#signal.removeEventListener('abort', this.#onAbort);
    this.#resolve(outcome);
  }
}

function failure(error: string, retryable: boolean, overload: boolean): Outcome {
  return { ok: false, retryable, overload, pause: false, output: '', truncated: false, error };
}

/**
 * `origin` and `path` of an absolute http(s) URL (the path with its query,
 * without a fragment), or why it cannot be sent.
 */
export function splitUrl(url: string): { origin: string; path: string } | string {
  const from = url.indexOf('://') + 3;
  let end = from;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 0x2f /* / */ || c === 0x3f /* ? */ || c === 0x23 /* # */) break;
    end++;
  }
  const origin = url.slice(0, end);
  if (from === 2 || end === from) return `not an absolute URL: ${url}`;
  if (origin.includes('@')) return `credentials in the URL are not sent (${url}): pass them in a --header`;
  let path = url.slice(end);
  const hash = path.indexOf('#');
  if (hash >= 0) path = path.slice(0, hash);
  if (path === '' || path[0] === '?') path = `/${path}`;
  return { origin, path };
}

function classify(
  status: number,
  retryAfterHeader: string | string[] | undefined,
  text: string,
  truncated: boolean,
): Outcome {
  const retryAfter = parseRetryAfter(Array.isArray(retryAfterHeader) ? retryAfterHeader[0] : retryAfterHeader);
  const ok = status < 400;
  const overload = status === 429 || status === 503 || status === 504;
  return {
    ok,
    retryable: status === 408 || status === 429 || status >= 500,
    overload,
    retryAfter,
    pause: (status === 429 || status === 503) && retryAfter !== undefined,
    httpStatus: status,
    output: text,
    truncated,
    error: ok ? undefined : `HTTP ${status}`,
  };
}

/** `Retry-After` as ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
