// One HTTP request per item through undici's `request` on one Agent (pooled,
// kept-alive connections; never the global fetch).
import { createHash } from 'node:crypto';
import { Agent, request } from 'undici';
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

  async #send(
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    signal: AbortSignal,
    shared: boolean,
  ): Promise<Outcome> {
    try {
      // A signal per request costs undici a listener each (about a tenth of a request's
      // time); the run's shared signal is watched once and ends every request by closing the agent.
      if (shared) this.#watch(signal);
      const response = await request(url, {
        method: this.#method as 'GET',
        headers,
        body,
        signal: shared ? undefined : signal,
        dispatcher: this.#agent,
      });
      const capture = new Capture(this.#maxOutput);
      const stream = response.body;
      await new Promise<void>((resolve, reject) => {
        stream.on('data', (chunk: Buffer) => capture.add(chunk));
        stream.once('end', resolve);
        stream.once('error', reject);
      });
      return classify(response.statusCode, response.headers['retry-after'], capture);
    } catch (error) {
      const code = (error as { code?: string }).code ?? '';
      const aborted = signal.aborted;
      const timedOut = aborted || code.includes('TIMEOUT');
      return {
        ok: false,
        retryable: aborted || RETRYABLE_CODES.has(code),
        overload: timedOut,
        pause: false,
        output: '',
        truncated: false,
        error: aborted ? abortText(signal) : `${code ? `${code}: ` : ''}${(error as Error).message}`,
      };
    }
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

function classify(status: number, retryAfterHeader: string | string[] | undefined, body: Capture): Outcome {
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
    output: body.text(),
    truncated: body.truncated,
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
