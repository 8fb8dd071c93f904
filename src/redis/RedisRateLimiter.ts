/**
 * Long file: one class, decisions batched into one script call per tick,
 * FIFO waiting per key in this process, and the failure policies with their
 * deadlines; the options (options.ts), the script (scripts.ts) and the keyed
 * view live beside it.
 */
import { randomBytes } from 'node:crypto';
import { type Admission, type RunContext, runLeased } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { type Permit, PermitCounter } from '../core/Permit.js';
import { checkRateKey, checkRateWeight, maxWeight, type NormalizedLimit, normalizeLimits } from '../core/RateLimit.js';
import { admissions, Trace } from '../core/trace.js';
import { checkCount, checkFunction, checkMs, checkSignal, show } from '../core/validate.js';
import { WaitCounters, type Waiter, Waiters } from '../core/Waiters.js';
import {
  type RateAcquireOptions,
  type RateDecision,
  type RateKey,
  RateLimiter,
  type RateTryOptions,
} from '../rate/RateLimiter.js';
import { BackendUnavailableError } from './errors.js';
import { KeyedRedisRateLimiter } from './KeyedRedisRateLimiter.js';
import { checkPrefix, hashTagSafe, keyPart } from './keys.js';
import type { RedisRateLimiterOptions, RedisRateLimiterStats, UnavailablePolicy } from './options.js';
import { toRedisAdapter } from './RedisAdapter.js';
import { Deadlines, Script } from './Script.js';
import { GCRA_SCRIPT, RATE_SCRIPT } from './scripts.js';

export { KeyedRedisRateLimiter } from './KeyedRedisRateLimiter.js';
export type { RedisRateLimiterOptions, RedisRateLimiterStats, UnavailablePolicy } from './options.js';

const POLICIES: readonly UnavailablePolicy[] = ['fail-closed', 'fail-open', 'local'];
const ALGORITHM_CODE = { gcra: 'g', 'token-bucket': 't', 'sliding-window': 's', 'fixed-window': 'f' } as const;
const script = new Script(RATE_SCRIPT);
const gcraScript = new Script(GCRA_SCRIPT);

/** Per decision; the GCRA script sends the wait and the reset as whole ms, the general one as text. */
type Reply = [allowed: number, wait: number | string, remaining: number, limit: number, reset: number | string];

interface Request {
  /** The Redis keys of this decision, in the script's layout (see #compact). */
  readonly keys: readonly string[];
  readonly cost: number;
  /** Names its entries in a sliding-window log; `''` in the compact layout. */
  readonly id: string;
  resolve: ((reply: Reply) => void) | undefined;
  reject: ((error: unknown) => void) | undefined;
}

/** The calls of this process waiting on one key: the engine's queue (a waiter's `data` is its deadline, `extra` its timeout) and its pump. */
class KeyQueue {
  waiters!: Waiters;
  pumping = false;
  timer: unknown = undefined;
  wake: (() => void) | undefined = undefined;
}

/**
 * The rate limits of `RateLimiter`, shared by every process that uses the
 * same Redis, `name` and limits. Each decision is one atomic Lua script call
 * on the Redis server's clock, all-or-nothing across several limits.
 *
 * Differences from the in-process `RateLimiter`, all due to the network:
 * `tryAcquire` and `consume` return promises; waiting calls are FIFO within
 * this process (each key's head asks Redis again when its `retryAfter` has
 * passed, so there is no polling), but processes compete when a slot frees.
 * `timeout` refuses at once when Redis's `retryAfter` already exceeds it.
 *
 * Bounds (documented, tested): a Redis restart without persistence forgets
 * every count, so up to one extra burst per limit can pass after it. A call
 * that timed out on the client may still have been applied by the server: it
 * then counts against the limit without being admitted (never the reverse).
 */
export class RedisRateLimiter implements Admission<Permit, RateAcquireOptions>, AsyncDisposable {
  /** Leases out now: granted and not yet released (a rate limit's lease is spent at once; `release()` only ends `run`). */
  readonly #leases = new PermitCounter();
  readonly #trace: Trace;
  #rejected = 0;
  readonly #redis;
  readonly #limits: readonly NormalizedLimit[];
  readonly #keyPrefix: string;
  readonly #limitArgs: string[];
  /** The GCRA script's arguments before the costs (with `#compact`). */
  readonly #gcraArgs: readonly string[];
  readonly #maxWeight: number;
  readonly #policy: UnavailablePolicy;
  readonly #localLimits: readonly NormalizedLimit[];
  #local: RateLimiter | undefined = undefined;
  readonly #commandTimeout: number;
  /** The deadlines of the decisions in flight: one timer for all. */
  readonly #deadlines: Deadlines;
  readonly #maxWaiting: number;
  readonly #clock: Clock;
  readonly #queues = new Map<RateKey | undefined, KeyQueue>();
  readonly #idPrefix = randomBytes(6).toString('base64url');
  /**
   * One GCRA limit, the common case: a script of its own (GCRA_SCRIPT) that
   * takes one key and the cost per decision (no window key, no entry id) and
   * answers four whole numbers: half the bytes each way, and the least work
   * in Redis.
   */
  readonly #compact: boolean;
  /** The keys of the decisions without a key (the same every time). */
  #unkeyed: readonly string[] | undefined = undefined;
  readonly #maxBatch: number;
  #batch: Request[] = [];
  #seq = 0;
  #closed = false;
  #decisions = 0;
  #admitted = 0;
  #denied = 0;
  #unavailable = 0;
  #waiting = 0;
  /** Refused because Redis's `retryAfter` already exceeded the timeout. */
  #timedOutNow = 0;
  /** Early exits of waits, over every key's queue. */
  readonly #counters = new WaitCounters();

  constructor(options: RedisRateLimiterOptions) {
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(
        `Expected \`options\` to be an object with \`client\`, \`name\` and \`limits\`, got ${show(options)}`,
      );
    }
    this.#redis = toRedisAdapter(options.client);
    if (typeof options.name !== 'string' || options.name === '') {
      throw new TypeError(`Expected \`name\` to be a non-empty string, got ${show(options.name)}`);
    }
    this.#limits = normalizeLimits(options.limits);
    this.#maxWeight = maxWeight(this.#limits);
    const prefix = checkPrefix(options.prefix ?? 'sluice:rate:');
    // The limits are part of the key: a changed configuration starts fresh
    // instead of reading state written under other rules.
    const signature = this.#limits
      .map((l) => `${ALGORITHM_CODE[l.algorithm]}${l.limit}/${l.interval}/${l.burst}`)
      .join(',');
    this.#keyPrefix = `${prefix}{${hashTagSafe(options.name)}}:${signature}:`;
    this.#compact = this.#limits.length === 1 && this.#limits[0]?.algorithm === 'gcra';
    const first = this.#limits[0] as NormalizedLimit;
    this.#gcraArgs = [String(first.limit), String(first.interval), String(first.burst)];
    this.#limitArgs = this.#limits.flatMap((l) => [
      ALGORITHM_CODE[l.algorithm],
      String(l.limit),
      String(l.interval),
      String(l.burst),
    ]);
    const policy = options.onUnavailable ?? 'fail-closed';
    if (!POLICIES.includes(policy)) {
      throw new TypeError(
        `Expected \`onUnavailable\` to be one of ${POLICIES.map((p) => `'${p}'`).join(', ')}, got ${show(policy)}`,
      );
    }
    this.#policy = policy;
    this.#localLimits =
      options.localLimits === undefined ? this.#limits : normalizeLimits(options.localLimits, 'localLimits');
    this.#commandTimeout =
      options.commandTimeout === undefined ? 1000 : checkMs('commandTimeout', options.commandTimeout, false);
    if (this.#commandTimeout === 0) {
      throw new RangeError(`Expected \`commandTimeout\` to be a finite number of milliseconds > 0, got ${show(0)}`);
    }
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    this.#maxBatch = options.maxBatch === undefined ? 16 : checkCount('maxBatch', options.maxBatch, 1, false);
    this.#clock = options.clock ?? systemClock;
    this.#deadlines = new Deadlines(this.#clock, this.#commandTimeout);
    this.#trace = new Trace(this, 'RedisRateLimiter', options.name, this.#clock);
    this.#leases.trace = this.#trace;
  }

  get limits(): readonly NormalizedLimit[] {
    return this.#limits;
  }
  get closed(): boolean {
    return this.#closed;
  }

  stats(): RedisRateLimiterStats {
    return {
      running: this.#leases.running,
      waiting: this.#waiting,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#timedOutNow + this.#counters.timedOut,
      aborted: this.#counters.aborted,
      decisions: this.#decisions,
      denied: this.#denied,
      unavailable: this.#unavailable,
      scriptReloads: script.reloads + gcraScript.reloads,
    };
  }

  /** The same limiter bound to one key. */
  for(key: RateKey): KeyedRedisRateLimiter {
    return new KeyedRedisRateLimiter(this, key);
  }

  /**
   * One decision now: admitted (and counted) or not, with `retryAfter`,
   * `remaining` and `resetAfter` from the server. Applies the failure policy when
   * Redis is unavailable (`fail-open` answers `allowed: true, remaining: 0`).
   */
  consume(options?: RateTryOptions): Promise<RateDecision> {
    const cost = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    const key = options === undefined ? undefined : checkRateKey(options.key);
    if (this.#closed) return Promise.reject(new ClosedError('Rate limiter is closed'));
    return this.#decide(key, cost);
  }

  /** Admission now, or `undefined` (also when calls of this process wait on the key: no queue jumping). */
  async tryAcquire(options?: RateTryOptions): Promise<Permit | undefined> {
    const cost = options?.weight === undefined ? 1 : this.#checkWeight(options.weight);
    const key = options === undefined ? undefined : checkRateKey(options.key);
    if (this.#closed || this.#queues.has(key)) return undefined;
    const decision = await this.#decide(key, cost);
    if (!decision.allowed) return undefined;
    const permit = this.#leases.issue(cost);
    if (admissions.hasSubscribers) this.#trace.admitted(permit);
    return permit;
  }

  /**
   * Wait for admission (FIFO per key within this process). A `timeout` ends
   * the wait at its time wherever the call is in the queue (and at once when
   * Redis's `retryAfter` already exceeds it).
   */
  acquire(options?: RateAcquireOptions): Promise<Permit> {
    let key: RateKey | undefined;
    let cost = 1;
    let timeout = Number.POSITIVE_INFINITY;
    let signal: AbortSignal | undefined;
    if (options !== undefined) {
      key = checkRateKey(options.key);
      if (options.weight !== undefined) cost = this.#checkWeight(options.weight);
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      signal = checkSignal('signal', options.signal);
    }
    if (this.#closed) {
      this.#rejected++;
      return this.#refuse(new ClosedError('Rate limiter is closed'));
    }
    if (signal?.aborted) {
      this.#counters.aborted++;
      if (admissions.hasSubscribers) this.#trace.rejected(signal.reason, undefined, 'aborted');
      return Promise.reject(signal.reason);
    }
    let queue = this.#queues.get(key);
    const queued = queue?.waiters.size ?? 0;
    if (queued >= this.#maxWaiting) {
      this.#rejected++;
      return this.#refuse(
        new QueueFullError(`Rate limiter queue is full (${queued}/${this.#maxWaiting} waiting${this.#keyText(key)})`),
      );
    }
    if (queue === undefined) {
      queue = this.#queueFor(key);
      this.#queues.set(key, queue);
    }
    this.#waiting++;
    const promise = queue.waiters.wait<Permit>(cost, 0, this.#clock.now() + timeout, timeout, signal, timeout);
    if (!queue.pumping) void this.#pump(key, queue);
    return promise;
  }

  /** Acquire, then call `fn({ signal })` in the tick of the admission. Never starts on an aborted signal. */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: RateAcquireOptions): Promise<T> {
    checkFunction('fn', fn);
    const signal = options?.signal;
    const context: RunContext = { signal };
    return runLeased(this.acquire(options), () => fn(context), signal);
  }

  /** Reject the calls waiting in this process with `ClosedError`; refuse later calls. Idempotent. */
  close(): Promise<void> {
    return this.destroy();
  }

  /** `close()`, with `reason` as the waiters' `ClosedError` `cause`. */
  destroy(reason?: unknown): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      const error = new ClosedError('Rate limiter is closed', { cause: reason });
      for (const queue of this.#queues.values()) {
        this.#waiting -= queue.waiters.failAll(error);
        queue.wake?.();
      }
    }
    this.#deadlines.stop(); // decisions still in flight keep theirs
    return Promise.resolve();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #queueFor(key: RateKey | undefined): KeyQueue {
    const queue = new KeyQueue();
    queue.waiters = new Waiters(
      {
        left: (_waiter, wasFirst) => {
          this.#waiting--;
          // The head left while sleeping: let the next one ask now.
          if (wasFirst) queue.wake?.();
        },
        timeoutError: (_waiter, timeout) =>
          new TimeoutError(`Rate limit wait timed out after ${timeout} ms (${this.#describe(queue, key)})`),
      },
      this.#clock,
      this.#counters,
      this.#trace,
    );
    return queue;
  }

  /** A refusal at once (closed, queue full), told on the admission channel. */
  #refuse(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  /**
   * Ask Redis for the head of `key`'s queue, one decision at a time: admit
   * it, refuse it when Redis's answer lies past its deadline, or sleep until
   * Redis says a slot frees (or the head leaves).
   */
  async #pump(key: RateKey | undefined, queue: KeyQueue): Promise<void> {
    queue.pumping = true;
    const waiters = queue.waiters;
    while (true) {
      const head = waiters.first();
      if (head === undefined) break;
      let decision: RateDecision;
      try {
        decision = await this.#decide(key, head.weight);
      } catch (error) {
        this.#failWaiting(queue, head, error);
        continue;
      }
      // A head that left while Redis decided: an admission it got is spent.
      if (head.done) continue;
      if (decision.allowed) {
        this.#waiting--;
        waiters.grant(head, this.#leases.issue(head.weight));
        continue;
      }
      const deadline = head.data as number;
      const timeout = head.extra as number;
      if (this.#clock.now() + decision.retryAfter > deadline) {
        this.#timedOutNow++;
        this.#waiting--;
        waiters.fail(
          head,
          new TimeoutError(
            `Rate limit admission in ${decision.retryAfter} ms exceeds the timeout of ${timeout} ms (${this.#describe(queue, key)})`,
          ),
        );
        continue;
      }
      await new Promise<void>((resolve) => {
        queue.wake = resolve;
        queue.timer = this.#clock.setTimeout(resolve, Math.max(1, decision.retryAfter));
      });
      this.#clock.clearTimeout(queue.timer);
      queue.timer = undefined;
      queue.wake = undefined;
    }
    queue.pumping = false;
    if (this.#queues.get(key) === queue) this.#queues.delete(key);
  }

  /**
   * A decision failed. When Redis is unavailable (fail-closed), every caller
   * waiting on the key would meet the same outage: answer them all now, not
   * one per `commandTimeout`. Any other error belongs to the head's request.
   */
  #failWaiting(queue: KeyQueue, head: Waiter, error: unknown): void {
    if (error instanceof BackendUnavailableError) {
      this.#waiting -= queue.waiters.failAll(error);
      return;
    }
    if (head.done) return;
    this.#waiting--;
    queue.waiters.fail(head, error);
  }

  #keyText(key: RateKey | undefined): string {
    return key === undefined ? '' : ` for key ${show(key)}`;
  }

  #describe(queue: KeyQueue, key: RateKey | undefined): string {
    return `${queue.waiters.size} waiting${this.#keyText(key)}`;
  }

  #decide(key: RateKey | undefined, cost: number): Promise<RateDecision> {
    return this.#request(key, cost).then(
      ([allowed, wait, remaining, limit, reset]) => {
        this.#decisions++;
        if (allowed === 1) this.#admitted++;
        else this.#denied++;
        return {
          allowed: allowed === 1,
          retryAfter: allowed === 1 ? 0 : Math.ceil(Number(wait)),
          remaining: Number(remaining),
          limit: Number(limit),
          resetAfter: Math.ceil(Number(reset)),
        };
      },
      (error: unknown) => {
        if (!(error instanceof BackendUnavailableError)) throw error;
        this.#unavailable++;
        return this.#fallback(key, cost, error);
      },
    );
  }

  /**
   * Queue one decision for the next batch. Calls made in the same tick go to
   * Redis together: one round trip and one script invocation for up to
   * `maxBatch` decisions, decided one after the other, atomically.
   */
  #request(key: RateKey | undefined, cost: number): Promise<Reply> {
    const request: Request = {
      keys: key === undefined ? (this.#unkeyed ??= this.#keysOf(undefined)) : this.#keysOf(key),
      cost,
      id: this.#compact ? '' : `${this.#idPrefix}${(this.#seq++).toString(36)}`,
      resolve: undefined,
      reject: undefined,
    };
    if (this.#maxBatch === 1) return this.#send([request]).then((replies) => replies[0] as Reply);
    return new Promise<Reply>((resolve, reject) => {
      request.resolve = resolve;
      request.reject = reject;
      this.#batch.push(request);
      if (this.#batch.length === 1) queueMicrotask(() => this.#flush());
    });
  }

  #flush(): void {
    const all = this.#batch;
    this.#batch = [];
    // Calls of about equal size: several on the wire at once keep Redis busy while replies are read.
    const size = Math.ceil(all.length / Math.ceil(all.length / this.#maxBatch));
    for (let i = 0; i < all.length; i += size) {
      const chunk = all.slice(i, i + size);
      this.#send(chunk).then(
        (replies) => {
          for (let j = 0; j < chunk.length; j++) chunk[j]?.resolve?.(replies[j] as Reply);
        },
        (error: unknown) => {
          for (const request of chunk) request.reject?.(error);
        },
      );
    }
  }

  #keysOf(key: RateKey | undefined): string[] {
    const base = this.#keyPrefix + keyPart(key);
    if (this.#compact) return [`${base}:0`];
    return this.#limits.flatMap((_, i) => [`${base}:${i}`, `${base}:${i}:n`]);
  }

  #send(batch: readonly Request[]): Promise<Reply[]> {
    const what = batch.length === 1 ? 'a rate limit decision' : `a batch of ${batch.length} rate limit decisions`;
    if (this.#compact) return this.#sendGcra(batch, what);
    const keys: string[] = [];
    const args = [String(this.#limits.length), String(batch.length), ...this.#limitArgs];
    for (const request of batch) {
      for (const key of request.keys) keys.push(key);
      args.push(String(request.cost), request.id);
    }
    return this.#deadlines
      .run(what, () => script.run(this.#redis, keys, args))
      .then((reply) => {
        const flat = reply as (number | string)[];
        if (batch.length === 1) return [flat as unknown as Reply];
        const replies: Reply[] = [];
        for (let i = 0; i < batch.length; i++) replies.push(flat.slice(i * 5, i * 5 + 5) as unknown as Reply);
        return replies;
      });
  }

  /** One GCRA limit: its own script, four numbers per decision (the limit is known here). */
  #sendGcra(batch: readonly Request[], what: string): Promise<Reply[]> {
    const keys: string[] = [];
    const args = [...this.#gcraArgs];
    for (const request of batch) {
      keys.push(request.keys[0] as string);
      args.push(String(request.cost));
    }
    const limit = (this.#limits[0] as NormalizedLimit).limit;
    return this.#deadlines
      .run(what, () => gcraScript.run(this.#redis, keys, args))
      .then((reply) => {
        const flat = reply as number[];
        const replies: Reply[] = [];
        for (let i = 0; i < flat.length; i += 4) {
          replies.push([flat[i] as number, flat[i + 1] as number, flat[i + 2] as number, limit, flat[i + 3] as number]);
        }
        return replies;
      });
  }

  #fallback(key: RateKey | undefined, cost: number, error: BackendUnavailableError): RateDecision {
    if (this.#policy === 'fail-closed') throw error;
    if (this.#policy === 'fail-open') {
      const first = this.#limits[0] as NormalizedLimit;
      return { allowed: true, retryAfter: 0, remaining: 0, limit: first.limit, resetAfter: 0 };
    }
    this.#local ??= new RateLimiter({ limits: this.#localLimits, clock: this.#clock });
    return this.#local.consume({ key, weight: Math.min(cost, maxWeight(this.#localLimits)) });
  }

  #checkWeight(weight: unknown): number {
    return checkRateWeight(weight, this.#maxWeight);
  }
}
