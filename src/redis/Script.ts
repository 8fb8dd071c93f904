import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { BackendUnavailableError } from './errors.js';
import type { RedisAdapter } from './RedisAdapter.js';

/**
 * Server replies that mean "not available right now", as opposed to replies
 * that mean "this request is wrong" (a bug or a misconfiguration, which must
 * not be hidden behind a failure policy).
 */
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY|NOREPLICAS|MISCONF)\b/;
const REPLY = /^[A-Z]{2,}[A-Z_]* /;

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A Lua script run by SHA, reloaded transparently when the server has lost it. Internal. */
export class Script {
  readonly sha: string;
  /** How many times the server had lost the script (after a restart or `SCRIPT FLUSH`). */
  reloads = 0;
  constructor(readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  /**
   * EVALSHA; on NOSCRIPT, EVAL with the source (which also caches it again).
   * A NOSCRIPT reply means the script did not run, so sending it again cannot
   * count a decision twice; and each caller resends once, so a flushed cache
   * costs one extra round trip, not a storm of retries.
   */
  async run(redis: RedisAdapter, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const tail = [String(keys.length), ...keys, ...args];
    try {
      return await redis.command(['EVALSHA', this.sha, ...tail]);
    } catch (error) {
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      this.reloads++;
      return redis.command(['EVAL', this.source, ...tail]);
    }
  }
}

/**
 * Errors of the program rather than of the connection (a client called the
 * wrong way, an adapter with a bug): never an outage, so never handed to a
 * failure policy that would admit or refuse everything behind them.
 */
function isProgrammingError(error: unknown): boolean {
  return (
    error instanceof TypeError ||
    error instanceof RangeError ||
    error instanceof ReferenceError ||
    error instanceof SyntaxError
  );
}

/**
 * Wait at most `ms` for `call`. Connection errors and silence become
 * `BackendUnavailableError`; error replies about the request itself, and
 * programming errors (TypeError, RangeError, ...), are passed through
 * unchanged.
 */
export function withDeadline<T>(clock: Clock, ms: number, what: string, call: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = clock.setTimeout(() => {
      reject(new BackendUnavailableError(`Redis did not answer ${what} within ${ms} ms`));
    }, ms);
    let promise: Promise<T>;
    try {
      promise = call();
    } catch (error) {
      promise = Promise.reject(error);
    }
    promise.then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        const message = messageOf(error);
        if ((REPLY.test(message) && !UNAVAILABLE_REPLY.test(message)) || isProgrammingError(error)) reject(error);
        else reject(new BackendUnavailableError(`Redis is unavailable (${what}): ${message}`, { cause: error }));
      },
    );
  });
}
