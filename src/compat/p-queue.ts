/**
 * Drop-in for p-queue 9: `import PQueue from 'sluice/compat/p-queue'`.
 *
 * Options, methods, properties and events of p-queue 9 (checked by
 * test/compat-p-queue.test.ts, which runs one suite against both), over
 * sluice's TaskQueue, with p-queue's own validation and messages (an option
 * given as `undefined` throws, as there; fractional `concurrency` and
 * `intervalCap` round up, as `n < 1.5` does there). The queue is sluice's
 * priority queue unless `queueClass` is given. `clear()` drops waiting tasks
 * without settling them, as p-queue does.
 *
 * Deliberately more precise than p-queue 9 (a correct program cannot tell
 * the difference, except that it is told sooner or more accurately):
 * - `empty` / `onEmpty()` fire as soon as the last waiting task starts; p-queue 9
 *   fires them at the next task completion after that (so right after
 *   `await onEmpty()` on a one-slot queue, `size`/`pending` differ).
 * - A timeout's message reports the queue when the timeout fires, not when the task started.
 * - The deprecated `carryoverConcurrencyCount` works; p-queue 9's defaults shadow it.
 *
 * Not matched:
 * - The queue is an `EventEmitter` of `node:events`, not of eventemitter3
 *   (`instanceof` eventemitter3's class is false): matching it would make
 *   eventemitter3 a runtime dependency. The methods and events are the same.
 * - Edge cases reported against p-queue 9 and not reproduced in the shared
 *   suite yet: `setPriority()` among equal priorities, `isRateLimited` /
 *   `rateLimitCleared` while paused, and a duplicate `rateLimit` event when
 *   `clear()` races an interval update.
 */
import { EventEmitter } from 'node:events';
import { when } from '../core/Emitter.js';
import { TimeoutError } from '../core/errors.js';
import {
  type RunningTask as CoreRunningTask,
  QUEUE_HOOKS,
  type QueueHooks,
  type TaskContext,
  type TaskOptions,
  TaskQueue,
  type TaskQueueOptions,
  type WaitOptions,
} from '../core/TaskQueue.js';
import { checkBoolean, checkCount, checkFiniteNumber, checkFunction, checkSignal } from '../core/validate.js';
import {
  type Queue,
  type QueueAddOptions,
  type RunFunction,
  PriorityQueue as SluicePriorityQueue,
} from './PriorityQueue.js';
import { checkTimeout, limitsOf, pQueueChecks } from './p-queue-options.js';

export type { Queue, QueueAddOptions, RunFunction };

/** p-queue's constructor options. */
export interface Options {
  readonly concurrency?: number;
  readonly autoStart?: boolean;
  /** Per-task run timeout in ms, from the task's start (not its wait). */
  readonly timeout?: number;
  /** Most task starts per `interval`. */
  readonly intervalCap?: number;
  /** The length of a rate-limit window in ms; 0 disables rate limiting. */
  readonly interval?: number;
  /** Count tasks still running at a window's end against the next window. */
  readonly carryoverIntervalCount?: boolean;
  /** @deprecated Renamed to `carryoverIntervalCount`. */
  readonly carryoverConcurrencyCount?: boolean;
  /** Never more than `intervalCap` starts in any `interval`-long span (a sliding window). */
  readonly strict?: boolean;
  /** A queue class with p-queue's `queueClass` interface. @default PriorityQueue */
  readonly queueClass?: new () => Queue<RunFunction, QueueAddOptions>;
}

/** A running task as p-queue reports it (`timeout`, `timeoutRemaining`), with sluice's fields beside. */
export interface RunningTask extends CoreRunningTask {
  readonly timeout: number | undefined;
  readonly timeoutRemaining: number | undefined;
}

/** p-queue's events and their arguments. */
export interface PQueueEvents {
  add: [];
  active: [];
  next: [];
  completed: [result: unknown];
  error: [error: unknown];
  empty: [];
  idle: [];
  pendingZero: [];
  rateLimit: [];
  rateLimitCleared: [];
}

/** p-queue reports every bad argument as a TypeError; sluice uses RangeError for bad values. */
function asTypeError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RangeError) throw new TypeError(error.message);
    throw error;
  }
}

export default class PQueue extends EventEmitter<PQueueEvents> {
  readonly #queue: TaskQueue;
  /** A custom `queueClass` instance: it holds the waiting tasks and hands them to the TaskQueue one slot at a time. */
  #custom: Queue<RunFunction, QueueAddOptions> | undefined;
  readonly #queueClass: (new () => Queue<RunFunction, QueueAddOptions>) | undefined;

  constructor(options: Options = {}) {
    super();
    const custom = options.queueClass !== undefined && options.queueClass !== SluicePriorityQueue;
    const queueOptions = asTypeError((): TaskQueueOptions & { [QUEUE_HOOKS]: QueueHooks } => {
      if (options.queueClass !== undefined) checkFunction('queueClass', options.queueClass);
      const carryover = options.carryoverIntervalCount ?? options.carryoverConcurrencyCount ?? false;
      const { concurrency, intervalCap, interval } = pQueueChecks(options);
      const limits = limitsOf(intervalCap, interval, options);
      return {
        concurrency,
        autoStart: options.autoStart,
        runTimeout: options.timeout,
        ...(limits === undefined ? {} : { limits }),
        [QUEUE_HOOKS]: {
          events: custom ? this.#relay() : this,
          dropOnClear: true,
          carryover: checkBoolean('carryoverIntervalCount', carryover) && limits?.algorithm === 'fixed-window',
        },
      };
    });
    this.#queue = asTypeError(() => new TaskQueue(queueOptions));
    this.#queueClass = custom ? options.queueClass : undefined;
    this.#custom = this.#queueClass === undefined ? undefined : new this.#queueClass();
  }

  /** With a custom queue: what the TaskQueue reports reaches the listeners, and each freed slot takes the next task. */
  #relay(): EventEmitter {
    const relay = new EventEmitter();
    const forward = (name: keyof PQueueEvents) => (arg?: unknown) => {
      (this.emit as (name: string, arg?: unknown) => boolean)(name, arg);
    };
    for (const name of ['active', 'completed', 'error', 'pendingZero', 'rateLimit', 'rateLimitCleared'] as const) {
      relay.on(name, forward(name));
    }
    relay.on('next', () => {
      this.emit('next');
      this.#pump();
    });
    return relay;
  }

  /** Hand tasks from the custom queue to the TaskQueue while it has a free slot. */
  #pump(): void {
    const custom = this.#custom;
    if (custom === undefined) return;
    const queue = this.#queue;
    while (custom.size > 0 && !queue.isPaused && queue.waiting === 0 && queue.running < queue.concurrency) {
      (custom.dequeue() as RunFunction)();
    }
    if (custom.size === 0 && queue.waiting === 0) {
      this.emit('empty');
      if (queue.running === 0) this.emit('idle');
    }
  }

  /** Tasks waiting to start. */
  get size(): number {
    return (this.#custom?.size ?? 0) + this.#queue.waiting;
  }
  /** Tasks running. */
  get pending(): number {
    return this.#queue.running;
  }
  get isPaused(): boolean {
    return this.#queue.isPaused;
  }
  get isRateLimited(): boolean {
    return this.#queue.isRateLimited;
  }
  /** Every slot busy (or rate-limited) and tasks waiting. */
  get isSaturated(): boolean {
    const queue = this.#queue;
    return (queue.running >= queue.concurrency || queue.isRateLimited) && this.size > 0;
  }
  get concurrency(): number {
    return this.#queue.concurrency;
  }
  set concurrency(value: number) {
    if (!(typeof value === 'number' && value >= 1)) {
      throw new TypeError(`Expected \`concurrency\` to be a number from 1 and up, got \`${value}\` (${typeof value})`);
    }
    this.#queue.concurrency = Math.ceil(value);
    this.#pump();
  }
  /** Default run timeout (ms) for tasks added from now on, or undefined. */
  get timeout(): number | undefined {
    return this.#queue.runTimeout;
  }
  set timeout(value: number | undefined) {
    checkTimeout(value);
    this.#queue.runTimeout = value;
  }
  /** The running tasks, in p-queue's shape. */
  get runningTasks(): RunningTask[] {
    return this.#queue.runningTasks.map((task) => ({
      ...task,
      timeout: task.runTimeout,
      timeoutRemaining: task.runTimeoutRemaining,
    }));
  }

  /** As p-queue: invalid per-task options reject instead of throwing. */
  add<R>(fn: (context: TaskContext) => R | PromiseLike<R>, options?: QueueAddOptions): Promise<Awaited<R>> {
    try {
      checkTimeout(options?.timeout);
      const settings: TaskOptions | undefined =
        options === undefined
          ? undefined
          : { priority: options.priority, id: options.id, signal: options.signal, runTimeout: options.timeout };
      if (this.#custom !== undefined) return this.#addToCustom(fn, settings);
      return this.#queue.add(fn, settings);
    } catch (error) {
      return Promise.reject(error instanceof RangeError ? new TypeError(error.message) : error);
    }
  }

  /** A task for the custom queue: it enters the TaskQueue when the custom queue hands it out. */
  #addToCustom<R>(
    fn: (context: TaskContext) => R | PromiseLike<R>,
    settings: TaskOptions | undefined,
  ): Promise<Awaited<R>> {
    checkFunction('fn', fn);
    if (settings?.priority !== undefined) checkFiniteNumber('priority', settings.priority); // add() turns a RangeError into p-queue's TypeError
    const signal = settings?.signal;
    signal?.throwIfAborted();
    return new Promise<Awaited<R>>((resolve, reject) => {
      let queued = true;
      const onAbort = () => {
        if (!queued) return;
        queued = false;
        this.#custom?.remove?.(run);
        reject(signal?.reason);
      };
      const run: RunFunction = () => {
        signal?.removeEventListener('abort', onAbort);
        if (!queued) return; // aborted while it waited
        queued = false;
        this.#queue.add(fn, settings).then(resolve, reject);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#custom?.enqueue(run, {
        priority: settings?.priority ?? 0,
        ...(settings?.id === undefined ? {} : { id: settings.id }),
      });
      this.emit('add');
      this.#pump();
    });
  }

  /** Add several tasks; resolves with all results (rejects with the first error). */
  addAll<R>(
    fns: readonly ((context: TaskContext) => R | PromiseLike<R>)[],
    options?: QueueAddOptions,
  ): Promise<Awaited<R>[]> {
    return Promise.all(fns.map((fn) => this.add(fn, options)));
  }

  /** Resume (or begin) starting tasks. */
  start(): this {
    this.#queue.start();
    this.#pump();
    return this;
  }
  /** Stop starting tasks; running ones continue. */
  pause(): void {
    this.#queue.pause();
  }

  /** Move a waiting task (by `id`) to a new priority. */
  setPriority(id: string, priority: number): void {
    asTypeError(() => checkFiniteNumber('priority', priority));
    if (this.#custom === undefined) {
      this.#queue.setPriority(id, priority);
      return;
    }
    if (typeof this.#custom.setPriority !== 'function') {
      throw new TypeError('The `queueClass` in use has no `setPriority` method');
    }
    this.#custom.setPriority(id, priority);
  }

  /** Waiting tasks with the given priority (all waiting tasks without one). */
  sizeBy(options: Readonly<Partial<QueueAddOptions>>): number {
    if (this.#custom !== undefined) return this.#custom.filter(options).length;
    return options.priority === undefined ? this.#queue.waiting : this.#queue.waitingAt(options.priority);
  }

  /** Forget every waiting task: their promises never settle, as in p-queue. */
  clear(): void {
    if (this.#queueClass !== undefined) this.#custom = new this.#queueClass();
    this.#queue.clear();
    this.#pump();
  }

  /** Resolves when nothing is waiting. */
  onEmpty(options?: WaitOptions): Promise<void> {
    return when(this, ['empty'], () => this.size === 0, checkSignal('signal', options?.signal));
  }
  /** Resolves when nothing is waiting or running. */
  onIdle(options?: WaitOptions): Promise<void> {
    return when(this, ['idle'], () => this.size === 0 && this.pending === 0, checkSignal('signal', options?.signal));
  }
  /** Resolves when nothing is running (waiting tasks may remain, e.g. while paused). */
  onPendingZero(options?: WaitOptions): Promise<void> {
    return when(this, ['pendingZero'], () => this.pending === 0, checkSignal('signal', options?.signal));
  }
  /** Backpressure: resolves when fewer than `limit` tasks are waiting. */
  onSizeLessThan(limit: number, options?: WaitOptions): Promise<void> {
    asTypeError(() => checkCount('limit', limit, 1, true)); // below 1 would never come
    return when(this, ['next', 'active'], () => this.size < limit, checkSignal('signal', options?.signal));
  }
  /** Resolves when the queue becomes rate-limited. */
  onRateLimit(options?: WaitOptions): Promise<void> {
    return when(this, ['rateLimit'], () => this.isRateLimited, checkSignal('signal', options?.signal));
  }
  /** Resolves when the queue is no longer rate-limited. */
  onRateLimitCleared(options?: WaitOptions): Promise<void> {
    return when(this, ['rateLimitCleared'], () => !this.isRateLimited, checkSignal('signal', options?.signal));
  }
  /** Rejects with the first task error from now on. */
  onError(options?: WaitOptions): Promise<never> {
    const signal = checkSignal('signal', options?.signal);
    return new Promise<never>((_resolve, reject) => {
      const onError = (error: unknown) => {
        signal?.removeEventListener('abort', onAbort);
        reject(error);
      };
      const onAbort = () => {
        this.off('error', onError);
        reject(signal?.reason);
      };
      if (signal?.aborted) return reject(signal.reason);
      this.once('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export { SluicePriorityQueue as PriorityQueue, TimeoutError };
