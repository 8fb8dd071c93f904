import { createHash } from 'node:crypto';
import type { Clock } from '../core/clock.js';
import { Deque } from '../core/Deque.js';
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
  run(redis: RedisAdapter, keys: readonly string[], args: readonly string[]): Promise<unknown> {
    const command = ['EVALSHA', this.sha, String(keys.length)];
    for (const key of keys) command.push(key);
    for (const arg of args) command.push(arg);
    return redis.command(command).catch((error: unknown) => {
      if (!messageOf(error).startsWith('NOSCRIPT')) throw error;
      this.reloads++;
      command[0] = 'EVAL';
      command[1] = this.source;
      return redis.command(command);
    });
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

/** `call()`, with a synchronous throw as a rejection. */
function started<T>(call: () => Promise<T>): Promise<T> {
  try {
    return call();
  } catch (error) {
    return Promise.reject(error);
  }
}

/** What a failed command becomes: an outage, or (a reply about the request, a programming error) itself. */
function failure(error: unknown, what: string): unknown {
  const message = messageOf(error);
  if ((REPLY.test(message) && !UNAVAILABLE_REPLY.test(message)) || isProgrammingError(error)) return error;
  return new BackendUnavailableError(`Redis is unavailable (${what}): ${message}`, { cause: error });
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
    started(call).then(
      (value) => {
        clock.clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clock.clearTimeout(timer);
        reject(failure(error, what));
      },
    );
  });
}

interface Pending {
  readonly at: number;
  readonly what: string;
  /** Rejects the caller; undefined once the command is answered or timed out. */
  fail: ((error: unknown) => void) | undefined;
}

/**
 * `withDeadline` for a part whose commands all have the same deadline, so
 * they end in the order they began: one queue and one timer for all, instead
 * of a timer set and cleared per command (which cost a decision ~7 us of
 * latency, a twentieth of a round trip to a local Redis). The timer does not
 * keep the process alive (a command's connection does); it stops once
 * nothing is pending when it fires, and `stop()` ends it at once when
 * nothing is pending. Internal.
 */
export class Deadlines {
  readonly #pending = new Deque<Pending>();
  #timer: unknown = undefined;
  /** `stop()` was called: the timer ends as soon as nothing is pending. */
  #stopping = false;

  constructor(
    readonly clock: Clock,
    readonly ms: number,
  ) {}

  run<T>(what: string, call: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { at: this.clock.now() + this.ms, what, fail: reject };
      this.#pending.push(entry);
      this.#timer ??= this.clock.setTimeout(this.#expire, this.ms, false);
      started(call).then(
        (value) => {
          entry.fail = undefined;
          this.#trim();
          resolve(value);
        },
        (error: unknown) => {
          if (entry.fail === undefined) return; // already timed out
          entry.fail = undefined;
          this.#trim();
          reject(failure(error, what));
        },
      );
    });
  }

  /** A part that closes: the timer ends now if nothing is pending, else once the last pending command ends. */
  stop(): void {
    this.#stopping = true;
    this.#trim();
  }

  /** Drop the answered commands at the head (they mostly end in order); when stopping and none is left, the timer. */
  #trim(): void {
    while (this.#pending.peek()?.fail === undefined && this.#pending.length > 0) this.#pending.shift();
    if (this.#stopping && this.#pending.length === 0 && this.#timer !== undefined) {
      this.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  readonly #expire = (): void => {
    this.#timer = undefined;
    const now = this.clock.now();
    for (let head = this.#pending.peek(); head !== undefined; head = this.#pending.peek()) {
      const fail = head.fail;
      if (fail === undefined) {
        this.#pending.shift();
        continue;
      }
      if (head.at > now) {
        this.#timer = this.clock.setTimeout(this.#expire, Math.ceil(head.at - now), false);
        return;
      }
      this.#pending.shift();
      head.fail = undefined;
      fail(new BackendUnavailableError(`Redis did not answer ${head.what} within ${this.ms} ms`));
    }
  };
}
