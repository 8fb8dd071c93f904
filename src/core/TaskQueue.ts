import { EventEmitter } from 'node:events';
import type { Admission, AdmissionStats, RunContext } from './admission.js';
import { type Clock, systemClock } from './clock.js';
import { contextFree } from './context.js';
import { Deque } from './Deque.js';
import { ClearedError, ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { Permit } from './Permit.js';
import { PriorityQueue, type Queue, type RunFunction } from './PriorityQueue.js';
import {
  checkBoolean,
  checkCount,
  checkFiniteNumber,
  checkFunction,
  checkMs,
  checkRenamed,
  checkSignal,
  show,
} from './validate.js';
import { WaitCounters, type Waiter, Waiters, type WaitersHost } from './Waiters.js';

/** What happens when a task arrives and `maxWaiting` tasks are already waiting. */
export type OverflowBehaviour = 'reject' | 'drop-oldest';

/** Options of the {@link TaskQueue} constructor. */
export interface TaskQueueOptions {
  /** Most tasks running at once. An integer >= 1, or Infinity. @default Infinity */
  readonly concurrency?: number;
  /** Start tasks as soon as they are added; `false` waits for `start()`. @default true */
  readonly autoStart?: boolean;
  /**
   * Per-task run timeout in ms (> 0), counted from when the task starts, not
   * while it waits. The task's promise rejects with `TimeoutError`
   * (`SLUICE_TIMEOUT`) and the signal passed to the task aborts. @default none
   */
  readonly runTimeout?: number;
  /** Most task starts per `interval`. An integer >= 1, or Infinity. @default Infinity */
  readonly intervalCap?: number;
  /** Length of a rate-limit window in ms; 0 disables rate limiting. Finite, >= 0. @default 0 */
  readonly interval?: number;
  /** Count tasks still running at a window's end against the next window. @default false */
  readonly carryoverIntervalCount?: boolean;
  /**
   * Sliding-window rate limiting: never more than `intervalCap` starts in any
   * `interval`-long span (the default fixed windows allow up to 2x across a
   * boundary). Needs a finite `intervalCap` and a non-zero `interval`. @default false
   */
  readonly strict?: boolean;
  /** Most tasks allowed to wait (running tasks do not count). An integer >= 0, or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /**
   * At `maxWaiting`: `'reject'` refuses the new task with `QueueFullError`;
   * `'drop-oldest'` evicts the task that has waited longest (it rejects with
   * `QueueFullError`) and queues the new one. @default 'reject'
   */
  readonly overflow?: OverflowBehaviour;
  /** Whether `clear()` rejects the removed tasks with `ClearedError` (else they never settle). @default true */
  readonly rejectOnClear?: boolean;
  /** A queue class with p-queue's `queueClass` interface. @default PriorityQueue */
  readonly queueClass?: new () => Queue<RunFunction, TaskOptions>;
  /** Time source for timeouts and rate-limit windows. @default systemClock */
  readonly clock?: Clock;
}

/** Options of {@link TaskQueue.add}. */
export interface TaskOptions {
  /** Higher runs first; FIFO among equals. Finite. @default 0 */
  readonly priority?: number;
  /** Identifier for `setPriority`. @default an increasing number, as a string */
  id?: string;
  /** Abort: a waiting task leaves the queue; a running one rejects (and its work sees the signal). */
  readonly signal?: AbortSignal | undefined;
  /** Most ms to wait for a start; `0` means now or fail (`TimeoutError`). @default Infinity */
  readonly timeout?: number;
  /** Run timeout for this task in ms (> 0), counted from its start. @default the queue's `runTimeout` */
  readonly runTimeout?: number;
}

/** Options of {@link TaskQueue.acquire} (the admission protocol). */
export type TaskAcquireOptions = Pick<TaskOptions, 'signal' | 'timeout' | 'priority'>;

/** What a task function receives. */
export interface TaskContext {
  /** Aborts when the caller's signal aborts or the task times out. */
  readonly signal: AbortSignal | undefined;
}

/** A task that is running, as reported by `runningTasks`. */
export interface RunningTask {
  readonly id: string;
  readonly priority: number;
  /** `Date.now()` when it started. */
  readonly startTime: number;
  readonly runTimeout: number | undefined;
  readonly runTimeoutRemaining: number | undefined;
}

export interface TaskQueueStats extends AdmissionStats {
  readonly added: number;
  readonly completed: number;
  readonly failed: number;
  /** Tasks that ran past their run timeout. (`timedOut` counts waits.) */
  readonly runTimedOut: number;
}

/** Event names and their arguments. */
export interface TaskQueueEvents {
  /** A task was added. */
  add: [];
  /** A task started. */
  active: [];
  /** A task finished, was aborted while waiting, or the queue was cleared. */
  next: [];
  /** A task resolved. */
  completed: [result: unknown];
  /** A task rejected (emitted only when someone listens). */
  error: [error: unknown];
  /** Nothing is waiting. */
  empty: [];
  /** Nothing is waiting or running. */
  idle: [];
  /** Nothing is running. */
  pendingZero: [];
  /** Waiting tasks are held back by `intervalCap`. */
  rateLimit: [];
  /** No longer held back by `intervalCap`. */
  rateLimitCleared: [];
}

/** Options of the `on*` waiting helpers. */
export interface WaitOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Sent to a queued task by a `clear()` that does not reject: forget it. */
const DROP = Symbol('drop');

/** The default of `add()`'s options: shared, so a plain `add(fn)` allocates no object for it. */
const NO_OPTIONS: TaskOptions = Object.freeze({});

/** What a task function receives when it has no signal: one shared object. */
const NO_SIGNAL: TaskContext = Object.freeze({ signal: undefined });

/**
 * One task, from `add()` to its end: the queue entry while it waits (the
 * default queue stores these directly; a custom `queueClass` receives them as
 * its "run functions"), then a node in the intrusive list of running tasks.
 * One object per task keeps a large backlog cheap.
 */
class QueuedTask {
  /** Resolves the caller's gate promise (or, `direct`, the caller's promise). */
  go: ((value: unknown) => void) | undefined = undefined;
  direct = false;
  /** Arrival number while waiting; clock time (whole ms) once running. */
  startedAt = 0;
  prev: QueuedTask | undefined = undefined;
  next: QueuedTask | undefined = undefined;
  constructor(
    readonly fn: (context: TaskContext) => unknown,
    public priority: number,
    /** The caller's id, or a number assigned in order. */
    readonly key: string | number,
    /** Timeout and signal, when either is set (most tasks have neither). */
    readonly guard: Guard | undefined,
  ) {}
  get timeout(): number | undefined {
    return this.guard?.timeout;
  }
  get signal(): AbortSignal | undefined {
    return this.guard?.signal;
  }
  /** p-queue's ids: the caller's, or an increasing number as a string. */
  get id(): string {
    return typeof this.key === 'string' ? this.key : String(this.key);
  }
}

/** A task's run timeout and signal, when it has either. */
class Guard {
  constructor(
    readonly timeout: number | undefined,
    readonly signal: AbortSignal | undefined,
  ) {}
}

/**
 * The default queue: the one waiter engine, holding the tasks as its waiters'
 * `data` (the `queueClass` interface on top, for `sizeBy` and `setPriority`).
 * A waiting task's abort is armed by the engine; `dequeue` hands the task its
 * waiter's resolver (`go`) to answer once it runs.
 */
class NativeQueue implements Queue<RunFunction, TaskOptions> {
  readonly waiters: Waiters;
  constructor(host: WaitersHost, clock: Clock, counters: WaitCounters) {
    this.waiters = new Waiters(host, clock, counters);
  }
  get size(): number {
    return this.waiters.size;
  }
  /**
   * Queue a task in the caller's context; the promise is its gate (or,
   * `direct`, the caller's own). A waiter's `data` is the task's function,
   * its `extra` the task's id, or the whole task record when the task has a
   * signal, a run timeout or an arrival number to keep (drop-oldest).
   */
  wait(
    fn: unknown,
    extra: string | number | QueuedTask,
    priority: number,
    signal: AbortSignal | undefined,
    timeout: number,
    direct: boolean,
  ): Promise<unknown> {
    return this.waiters.wait(1, priority, fn, extra, signal, timeout, direct);
  }
  enqueue(): void {
    throw new Error('unreachable: native tasks are queued through wait()');
  }
  dequeue(): RunFunction | undefined {
    const waiter = this.waiters.takeFirst();
    if (waiter === undefined) return undefined;
    const extra = waiter.extra;
    const task =
      extra instanceof QueuedTask
        ? extra
        : new QueuedTask(
            waiter.data as (context: TaskContext) => unknown,
            waiter.priority,
            extra as string | number,
            undefined,
          );
    task.go = waiter.resolve;
    task.direct = waiter.direct;
    return task as unknown as RunFunction;
  }
  setPriority(id: string, priority: number): void {
    for (const waiter of this.waiters) {
      const extra = waiter.extra;
      if ((extra instanceof QueuedTask ? extra.id : String(extra)) === id) {
        if (extra instanceof QueuedTask) extra.priority = priority;
        this.waiters.reprioritize(waiter, priority);
        return;
      }
    }
    throw new ReferenceError(`No promise function with the id "${id}" exists in the queue.`);
  }
  filter(options: Readonly<Partial<TaskOptions>>): RunFunction[] {
    const out: RunFunction[] = [];
    for (const waiter of this.waiters) {
      if (options.priority === undefined || waiter.priority === options.priority) out.push(waiter.data as RunFunction);
    }
    return out;
  }
  /** Answer the task that has waited longest (any priority) with `error`. O(levels). */
  failOldest(error: unknown): void {
    let oldest: Waiter | undefined;
    // With drop-oldest every waiting task keeps its record; `startedAt` holds its arrival number (see add()).
    const arrival = (waiter: Waiter) => (waiter.extra as QueuedTask).startedAt;
    for (const waiter of this.waiters.heads()) {
      if (oldest === undefined || arrival(waiter) < arrival(oldest)) oldest = waiter;
    }
    if (oldest !== undefined) this.waiters.fail(oldest, error);
  }
}

/**
 * The engine behind {@link TaskQueue}: all state and logic, with events sent to
 * the public object. Kept apart so that its hot paths see one receiver shape
 * whatever public class wraps it (TaskQueue, or the p-queue drop-in subclass):
 * measured, sharing the methods between two receiver classes cost ~20%.
 */
class TaskQueueEngine {
  readonly #events: EventEmitter<TaskQueueEvents>;

  /** Default run timeout for tasks added from now on (ms, > 0), or undefined. */
  runTimeout: number | undefined;

  #queue: Queue<RunFunction, TaskOptions>;
  /** With a custom `queueClass`: the engine holding the waiting tasks' aborts and deadlines, and each task's waiter. */
  readonly #customWaiters: Waiters | undefined;
  readonly #customWaiting = new Map<QueuedTask, Waiter>();
  /** The custom `queueClass`, or undefined for the native queue. */
  readonly #queueClass: (new () => Queue<RunFunction, TaskOptions>) | undefined;
  #pending = 0;
  #concurrency: number;
  #paused: boolean;
  #closed = false;
  readonly #interval: number;
  readonly #intervalCap: number;
  readonly #strict: boolean;
  readonly #carryover: boolean;
  readonly #intervalIgnored: boolean;
  #windowEnd = Number.NEGATIVE_INFINITY;
  #windowCount = 0;
  readonly #ticks = new Deque<number>();
  #resumeTimer: unknown = undefined;
  #rateLimited = false;
  readonly #maxWaiting: number;
  readonly #overflow: OverflowBehaviour;
  readonly #rejectOnClear: boolean;
  readonly #clock: Clock;
  #nextId = 1;
  #arrivals = 0;
  /** Running tasks: an intrusive doubly linked list (O(1) add/remove, no Map). */
  #runHead: QueuedTask | undefined = undefined;
  #added = 0;
  #completed = 0;
  #failed = 0;
  #timedOut = 0;
  #runTimedOut = 0;
  #admitted = 0;
  /** Aborted waits, over the native and the custom queue's engines. */
  readonly #counters = new WaitCounters();
  #rejected = 0;

  constructor(events: EventEmitter<TaskQueueEvents>, options: TaskQueueOptions) {
    this.#events = events;
    this.#concurrency =
      options.concurrency === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('concurrency', options.concurrency, 1, true);
    this.#paused = options.autoStart === undefined ? false : !checkBoolean('autoStart', options.autoStart);
    checkRenamed(options, { timeout: 'runTimeout' });
    this.runTimeout = options.runTimeout === undefined ? undefined : checkRunTimeout(options.runTimeout);
    this.#intervalCap =
      options.intervalCap === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('intervalCap', options.intervalCap, 1, true);
    this.#interval = options.interval === undefined ? 0 : checkMs('interval', options.interval, false);
    this.#strict = options.strict === undefined ? false : checkBoolean('strict', options.strict);
    if (this.#strict && this.#interval === 0) {
      throw new TypeError('The `strict` option requires a non-zero `interval`');
    }
    if (this.#strict && this.#intervalCap === Number.POSITIVE_INFINITY) {
      throw new TypeError('The `strict` option requires a finite `intervalCap`');
    }
    this.#carryover =
      options.carryoverIntervalCount === undefined
        ? false
        : checkBoolean('carryoverIntervalCount', options.carryoverIntervalCount);
    this.#intervalIgnored = this.#intervalCap === Number.POSITIVE_INFINITY || this.#interval === 0;
    checkRenamed(options, { maxSize: 'maxWaiting' });
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    const overflow = options.overflow ?? 'reject';
    if (overflow !== 'reject' && overflow !== 'drop-oldest') {
      throw new TypeError(`Expected \`overflow\` to be 'reject' or 'drop-oldest', got ${show(overflow)}`);
    }
    this.#overflow = overflow;
    this.#rejectOnClear =
      options.rejectOnClear === undefined ? true : checkBoolean('rejectOnClear', options.rejectOnClear);
    if (options.queueClass !== undefined) checkFunction('queueClass', options.queueClass);
    // The exported PriorityQueue is the documented default; the native queue
    // implements the same ordering on the task records themselves.
    this.#queueClass = options.queueClass === PriorityQueue ? undefined : options.queueClass;
    if (overflow === 'drop-oldest' && this.#queueClass !== undefined) {
      throw new TypeError("The `overflow: 'drop-oldest'` option needs the default `queueClass`");
    }
    this.#clock = options.clock ?? systemClock;
    this.#customWaiters =
      this.#queueClass === undefined ? undefined : new Waiters(this.#host(true), this.#clock, this.#counters);
    this.#queue = this.#newQueue();
  }

  /** Tasks waiting to start. */
  get size(): number {
    return this.#queue.size;
  }
  /** Tasks running. */
  get pending(): number {
    return this.#pending;
  }
  get isPaused(): boolean {
    return this.#paused;
  }
  get closed(): boolean {
    return this.#closed;
  }
  /** Whether a task added now would start at once (room, no one waiting, the rate limit allows). */
  get startable(): boolean {
    if (this.#closed || this.#paused || this.#queue.size > 0 || this.#pending >= this.#concurrency) return false;
    return this.#intervalIgnored || this.#intervalAllows(this.#clock.now());
  }
  /** Whether waiting tasks are held back by `intervalCap` right now. */
  get isRateLimited(): boolean {
    return this.#rateLimited;
  }
  /** Every slot busy (or rate-limited) and tasks waiting. */
  get isSaturated(): boolean {
    return (this.#pending >= this.#concurrency && this.#queue.size > 0) || (this.#rateLimited && this.#queue.size > 0);
  }
  get concurrency(): number {
    return this.#concurrency;
  }
  set concurrency(value: number) {
    this.#concurrency = checkCount('concurrency', value, 1, true);
    this.#process();
  }

  /** The running tasks, for debugging stuck work. */
  get runningTasks(): RunningTask[] {
    const now = this.#clock.now();
    const wall = Date.now();
    const out: RunningTask[] = [];
    for (let task = this.#runHead; task !== undefined; task = task.next) {
      out.push({
        id: task.id,
        priority: task.priority,
        startTime: wall - (now - task.startedAt),
        runTimeout: task.timeout,
        runTimeoutRemaining: task.timeout === undefined ? undefined : Math.max(0, task.startedAt + task.timeout - now),
      });
    }
    return out.reverse();
  }

  stats(): TaskQueueStats {
    return {
      running: this.#pending,
      waiting: this.#queue.size,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#timedOut,
      aborted: this.#counters.aborted,
      added: this.#added,
      completed: this.#completed,
      failed: this.#failed,
      runTimedOut: this.#runTimedOut,
    };
  }

  /** Waiting tasks with the given priority. */
  sizeBy(options: Readonly<Partial<TaskOptions>>): number {
    return this.#queue.filter(options).length;
  }

  /**
   * Add a task. Resolves or rejects with the task's outcome. Rejects with
   * `QueueFullError` at `maxWaiting`, `ClosedError` after `close()`, the signal's
   * reason on abort, `TimeoutError` on run timeout. Invalid options throw.
   */
  add<R>(
    fn: (context: TaskContext) => R | PromiseLike<R>,
    options: TaskOptions = NO_OPTIONS,
    /** The most ms to wait for a start (the task's `timeout`, validated by the caller). */
    wait = Number.POSITIVE_INFINITY,
  ): Promise<Awaited<R>> {
    checkFunction('fn', fn);
    const priority = options.priority === undefined ? 0 : checkFiniteNumber('priority', options.priority);
    const timeout = options.runTimeout === undefined ? this.runTimeout : checkRunTimeout(options.runTimeout);
    const signal = checkSignal('signal', options.signal);
    if (options.id !== undefined && typeof options.id !== 'string') {
      throw new TypeError(`Expected \`id\` to be a string, got ${show(options.id)}`);
    }
    if (this.#closed) {
      this.#rejected++;
      return Promise.reject(new ClosedError(`TaskQueue is closed (${this.#pending} running, ${this.size} waiting)`));
    }
    if (signal?.aborted) return Promise.reject(signal.reason);
    const key = options.id ?? this.#nextId++;
    const guard = timeout === undefined && signal === undefined ? undefined : new Guard(timeout, signal);

    // Fast path: room now and no one ahead. Start synchronously.
    if (!this.#paused && this.#queue.size === 0 && this.#pending < this.#concurrency) {
      const now = this.#intervalIgnored ? 0 : this.#clock.now();
      if (this.#intervalIgnored || this.#intervalAllows(now)) {
        this.#added++;
        this.#events.emit('add');
        this.#take(now);
        const result = this.#execute(new QueuedTask(fn as (context: TaskContext) => unknown, priority, key, guard));
        this.#events.emit('active');
        return result as Promise<Awaited<R>>;
      }
    }

    if (wait === 0) {
      this.#timedOut++;
      return Promise.reject(this.#waitTimeoutError(0));
    }
    if (this.#queue.size >= this.#maxWaiting) {
      if (this.#overflow === 'reject' || this.#maxWaiting === 0) {
        this.#rejected++;
        return Promise.reject(
          new QueueFullError(
            `TaskQueue is full (${this.#queue.size}/${this.#maxWaiting} waiting, ${this.#pending} running)`,
          ),
        );
      }
      this.#rejected++;
      (this.#queue as NativeQueue).failOldest(
        new QueueFullError(`TaskQueue is full (${this.#maxWaiting} waiting): the oldest waiting task was dropped`),
      );
    }

    // Queued. The caller's promise waits on a gate created here, in the
    // caller's AsyncLocalStorage context (or, with no context to carry, is
    // itself the gate: see context.ts).
    const direct = contextFree();
    let gate: Promise<unknown>;
    if (this.#queueClass === undefined && guard === undefined && this.#overflow === 'reject') {
      // The common case keeps no task record while it waits: the engine's
      // waiter holds the function and the id (a backlog is a million of these).
      gate = (this.#queue as NativeQueue).wait(fn, key, priority, undefined, wait, direct);
    } else {
      const task = new QueuedTask(fn as (context: TaskContext) => unknown, priority, key, guard);
      task.startedAt = this.#arrivals++;
      // The engine arms the abort of the wait (see the host in the constructor).
      gate =
        this.#queueClass === undefined
          ? (this.#queue as NativeQueue).wait(fn, task, priority, signal, wait, direct)
          : this.#waitInCustomQueue(task, signal, wait, direct);
    }
    this.#added++;
    this.#events.emit('add');
    this.#process();
    if (direct) return gate as Promise<Awaited<R>>;
    return gate.then(this.#resumeGated) as Promise<Awaited<R>>;
  }

  /**
   * A custom `queueClass` (p-queue's interface) decides the order; the
   * engine still holds each waiting task's abort and deadline (the engine's
   * own order is not used: a task leaves it when the custom queue hands it out).
   */
  #waitInCustomQueue(
    task: QueuedTask,
    signal: AbortSignal | undefined,
    wait: number,
    direct: boolean,
  ): Promise<unknown> {
    const engine = this.#customWaiters as Waiters;
    // One priority in this engine, so the waiter just queued is its last.
    const gate = engine.wait(1, 0, task, undefined, signal, wait, direct);
    this.#customWaiting.set(task, engine.last() as Waiter);
    this.#queue.enqueue(task as unknown as RunFunction, { priority: task.priority, id: task.id, signal });
    return gate;
  }

  /** The next task to start, out of the queue, with its waiter's resolver. */
  #dequeue(): QueuedTask {
    const task = this.#queue.dequeue() as unknown as QueuedTask;
    if (this.#queueClass === undefined) return task; // the native queue hands it over ready
    const waiter = this.#customWaiting.get(task) as Waiter;
    this.#customWaiting.delete(task);
    (this.#customWaiters as Waiters).take(waiter);
    task.go = waiter.resolve;
    task.direct = waiter.direct;
    return task;
  }

  #waitTimeoutError(ms: number): TimeoutError {
    return new TimeoutError(
      `TaskQueue wait timed out after ${ms} ms (${this.#pending} running, ${this.#queue.size} waiting)`,
    );
  }

  /** A waiting task left by abort or its wait's deadline: the rest may start, and listeners hear of it. */
  #waiterLeft(): void {
    this.#process();
    this.#events.emit('next');
  }

  /** Runs in the reaction of a gate, in the caller's context. Shared by all tasks. */
  readonly #resumeGated = (value: unknown): Promise<unknown> => this.#execute(value as QueuedTask) as Promise<unknown>;

  /** How a waiting task leaves early (abort, wait deadline), for the engine. */
  #host(custom: boolean): WaitersHost {
    return {
      left: (waiter) => {
        if (custom) {
          this.#customWaiting.delete(waiter.data as QueuedTask);
          this.#queue.remove?.(waiter.data as RunFunction);
        }
        this.#waiterLeft();
      },
      timeoutError: (_waiter, ms) => {
        this.#timedOut++;
        return this.#waitTimeoutError(ms);
      },
    };
  }

  #newQueue(): Queue<RunFunction, TaskOptions> {
    if (this.#queueClass !== undefined) return new this.#queueClass();
    return new NativeQueue(this.#host(false), this.#clock, this.#counters);
  }

  /** Add several tasks; resolves with all results (rejects with the first error). */
  addAll<R>(
    fns: readonly ((context: TaskContext) => R | PromiseLike<R>)[],
    options?: TaskOptions,
  ): Promise<Awaited<R>[]> {
    return Promise.all(fns.map((fn) => this.add(fn, options)));
  }

  /** Resume (or begin) starting tasks. */
  start(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#process();
  }

  /** Stop starting tasks; running ones continue. */
  pause(): void {
    this.#paused = true;
  }

  /** Move a waiting task (by `id`) to a new priority. */
  setPriority(id: string, priority: number): void {
    checkFiniteNumber('priority', priority);
    if (typeof this.#queue.setPriority !== 'function') {
      throw new TypeError('The `queueClass` in use has no `setPriority` method');
    }
    this.#queue.setPriority(id, priority);
  }

  /**
   * Remove every waiting task. They reject with `ClearedError`
   * (`SLUICE_CLEARED`) unless `rejectOnClear: false`. Running tasks continue;
   * rate-limit history is kept.
   */
  clear(): void {
    this.#removeWaiting(this.#rejectOnClear ? new ClearedError('The task was removed by clear()') : DROP);
  }

  /** Empty the queue, settling each removed task with `error` (or forgetting it), and tell the waiters. */
  #removeWaiting(error: unknown): void {
    const old = this.#queue;
    this.#queue = this.#newQueue();
    const waiters = old instanceof NativeQueue ? old.waiters : (this.#customWaiters as Waiters);
    this.#customWaiting.clear();
    // Forgotten, as in p-queue (the callers' promises stay pending), or rejected.
    if (error === DROP) waiters.takeAll();
    else waiters.failAll(error);
    this.#clearResumeTimer();
    this.#updateRateLimited();
    this.#events.emit('empty');
    if (this.#pending === 0) this.#events.emit('idle');
    this.#events.emit('next');
  }

  /** Resolves when nothing is waiting. */
  onEmpty(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['empty'], () => this.#queue.size === 0, options);
  }
  /** Resolves when nothing is waiting or running. */
  onIdle(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['idle'], () => this.#queue.size === 0 && this.#pending === 0, options);
  }
  /** Resolves when nothing is running (waiting tasks may remain, e.g. while paused). */
  onPendingZero(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['pendingZero'], () => this.#pending === 0, options);
  }
  /**
   * Backpressure: resolves when fewer than `limit` tasks are waiting.
   * `await queue.onSizeLessThan(n)` before each `add` caps the backlog at n.
   */
  onSizeLessThan(limit: number, options?: WaitOptions): Promise<void> {
    checkFiniteNumber('limit', limit);
    return this.#waitFor(['next', 'active'], () => this.#queue.size < limit, options);
  }
  /** Resolves when the queue becomes rate-limited. */
  onRateLimit(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['rateLimit'], () => this.#rateLimited, options);
  }
  /** Resolves when the queue is no longer rate-limited. */
  onRateLimitCleared(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['rateLimitCleared'], () => !this.#rateLimited, options);
  }
  /** Rejects with the first task error from now on. */
  onError(options?: WaitOptions): Promise<never> {
    return new Promise<never>((_resolve, reject) => {
      const signal = checkSignal('signal', options?.signal);
      const onErr = (error: unknown) => {
        cleanup();
        reject(error);
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = () => {
        this.#events.off('error', onErr);
        signal?.removeEventListener('abort', onAbort);
      };
      if (signal?.aborted) return reject(signal.reason);
      this.#events.on('error', onErr);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Graceful: refuse new tasks (`ClosedError`), let waiting and running ones
   * finish; resolves when idle. Idempotent.
   */
  close(): Promise<void> {
    this.#closed = true;
    return this.onIdle();
  }

  /**
   * Immediate: refuse new tasks and reject every waiting task with
   * `ClosedError` (`cause` = `reason`). Running tasks cannot be revoked; their
   * signals are the way to stop them. Resolves when they have finished.
   * Idempotent.
   */
  destroy(reason?: unknown): Promise<void> {
    this.#closed = true;
    const error = new ClosedError(`TaskQueue was destroyed (${this.#queue.size} waiting rejected)`, { cause: reason });
    this.#removeWaiting(error);
    return this.onIdle();
  }

  #waitFor(
    events: readonly (keyof TaskQueueEvents)[],
    done: () => boolean,
    options: WaitOptions | undefined,
  ): Promise<void> {
    const signal = checkSignal('signal', options?.signal);
    if (done()) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const listener = () => {
        if (!done()) return;
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason);
      };
      const cleanup = () => {
        for (const event of events) this.#events.off(event, listener as never);
        signal?.removeEventListener('abort', onAbort);
      };
      for (const event of events) this.#events.on(event, listener as never);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Start as many waiting tasks as the limits allow. */
  #process(): void {
    while (this.#tryStart()) {
      // keep starting
    }
    this.#updateRateLimited();
  }

  #tryStart(): boolean {
    if (this.#queue.size === 0) {
      this.#clearResumeTimer();
      this.#events.emit('empty');
      if (this.#pending === 0) this.#events.emit('idle');
      return false;
    }
    if (this.#paused || this.#pending >= this.#concurrency) return false;
    // Read the clock only when a rate limit needs it.
    const now = this.#intervalIgnored ? 0 : this.#clock.now();
    if (!this.#intervalIgnored && !this.#intervalAllows(now)) {
      this.#scheduleResume(now);
      return false;
    }
    const task = this.#dequeue();
    this.#take(now);
    if (task.direct) {
      // `go` stays on the task: #succeed/#fail settle the caller's promise
      // with the outcome itself (no promise adoption, one microtask fewer).
      this.#execute(task);
    } else {
      const go = task.go as (value: unknown) => void;
      task.go = undefined;
      go(task);
    }
    this.#events.emit('active');
    return true;
  }

  #intervalAllows(now: number): boolean {
    if (this.#intervalIgnored) return true;
    if (this.#strict) {
      const ticks = this.#ticks;
      while (ticks.length > 0 && now - (ticks.peek() as number) >= this.#interval) ticks.shift();
      return ticks.length < this.#intervalCap;
    }
    if (now >= this.#windowEnd) {
      this.#windowEnd = now + this.#interval;
      this.#windowCount = this.#carryover ? this.#pending : 0;
    }
    return this.#windowCount < this.#intervalCap;
  }

  /** Count a start against the concurrency and rate limits. */
  #take(now: number): void {
    this.#pending++;
    this.#admitted++;
    if (this.#intervalIgnored) return;
    if (this.#strict) this.#ticks.push(now);
    else this.#windowCount++;
  }

  /** Give back the rate-limit slot of a task that never ran (aborted at the start line). */
  #untake(): void {
    if (this.#intervalIgnored) return;
    if (this.#strict) this.#ticks.pop();
    else if (this.#windowCount > 0) this.#windowCount--;
  }

  #scheduleResume(now: number): void {
    if (this.#resumeTimer !== undefined) return;
    const delay = this.#strict ? (this.#ticks.peek() as number) + this.#interval - now : this.#windowEnd - now;
    // Kept referenced: tasks are waiting on it.
    this.#resumeTimer = this.#clock.setTimeout(
      () => {
        this.#resumeTimer = undefined;
        this.#process();
      },
      Math.max(0, delay),
    );
  }

  #clearResumeTimer(): void {
    if (this.#resumeTimer === undefined) return;
    this.#clock.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
  }

  #updateRateLimited(): void {
    let limited = false;
    if (!this.#intervalIgnored && this.#queue.size > 0) {
      if (this.#strict) {
        this.#intervalAllows(this.#clock.now());
        limited = this.#ticks.length >= this.#intervalCap;
      } else {
        limited = this.#windowCount >= this.#intervalCap;
      }
    }
    if (limited !== this.#rateLimited) {
      this.#rateLimited = limited;
      this.#events.emit(limited ? 'rateLimit' : 'rateLimitCleared');
    }
  }

  /**
   * Run a task whose slot is already taken. Returns the outcome as a promise,
   * except for a `direct` task, whose caller is settled through `go` instead.
   */
  #execute(task: QueuedTask): Promise<unknown> | undefined {
    // Whole milliseconds: a small integer is stored inline, a fraction would box.
    task.startedAt = Math.trunc(this.#clock.now());
    // Link at the head of the running list.
    task.next = this.#runHead;
    if (this.#runHead !== undefined) this.#runHead.prev = task;
    this.#runHead = task;
    const guard = task.guard;
    if (guard?.signal?.aborted) {
      const signal = guard.signal;
      this.#untake();
      return this.#fail(task, signal.reason);
    }
    if (guard === undefined) {
      let result: unknown;
      try {
        result = task.fn(NO_SIGNAL);
      } catch (error) {
        return this.#fail(task, error);
      }
      return Promise.resolve(result).then<unknown, unknown>(
        (value) => this.#succeed(task, value),
        (error) => this.#fail(task, error),
      );
    }
    return this.#executeGuarded(task);
  }

  /** The slower path: a signal to race and/or a run timeout. */
  #executeGuarded(task: QueuedTask): Promise<unknown> | undefined {
    const { signal, timeout } = task;
    const controller = timeout === undefined ? undefined : new AbortController();
    return new Promise<unknown>((resolve, reject) => {
      let timer: unknown;
      const cleanup = () => {
        if (timer !== undefined) this.#clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
      };
      const onAbort = () => {
        cleanup();
        controller?.abort(signal?.reason);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeout !== undefined && timeout !== Number.POSITIVE_INFINITY) {
        timer = this.#clock.setTimeout(() => {
          timer = undefined;
          cleanup();
          this.#runTimedOut++;
          const error = new TimeoutError(
            `Task timed out after ${timeout}ms (queue has ${this.#pending} running, ${this.#queue.size} waiting)`,
          );
          controller?.abort(error);
          reject(error);
        }, timeout);
      }
      let result: unknown;
      try {
        result = task.fn({ signal: controller?.signal ?? signal });
      } catch (error) {
        cleanup();
        reject(error);
        return;
      }
      Promise.resolve(result).then(
        (value) => {
          cleanup();
          resolve(value);
        },
        (error) => {
          cleanup();
          reject(error);
        },
      );
    }).then<unknown, unknown>(
      (value) => this.#succeed(task, value),
      (error) => this.#fail(task, error),
    );
  }

  #succeed(task: QueuedTask, value: unknown): unknown {
    this.#completed++;
    const go = task.go;
    if (go !== undefined) {
      task.go = undefined;
      go(value);
    }
    this.#events.emit('completed', value);
    this.#finish(task);
    return value;
  }

  #fail(task: QueuedTask, error: unknown): Promise<never> | undefined {
    this.#failed++;
    const go = task.go;
    if (go !== undefined) task.go = undefined;
    if (this.#events.listenerCount('error') > 0) this.#events.emit('error', error);
    this.#finish(task);
    if (go === undefined) return Promise.reject(error);
    go(Promise.reject(error));
    return undefined;
  }

  #finish(task: QueuedTask): void {
    // Unlink from the running list.
    if (task.prev !== undefined) task.prev.next = task.next;
    else this.#runHead = task.next;
    if (task.next !== undefined) task.next.prev = task.prev;
    task.prev = undefined;
    task.next = undefined;
    this.#pending--;
    if (this.#pending === 0) this.#events.emit('pendingZero');
    this.#process();
    this.#events.emit('next');
  }
}

/**
 * A promise queue with concurrency, priorities, rate limiting and
 * backpressure hooks: p-queue's model, on a ring-buffer priority queue with
 * O(1) abort and no timer while idle.
 *
 * ```ts
 * const queue = new TaskQueue({ concurrency: 10, intervalCap: 100, interval: 1000, strict: true });
 * for await (const row of rows) {
 *   await queue.onSizeLessThan(100); // backpressure: never more than 100 waiting
 *   queue.add(({ signal }) => upsert(row, { signal }));
 * }
 * await queue.onIdle();
 * ```
 *
 * A task that can start when added starts synchronously inside `add()`.
 * Queued tasks run in the AsyncLocalStorage context of their `add()` call.
 */
export class TaskQueue
  extends EventEmitter<TaskQueueEvents>
  implements Admission<Permit, TaskAcquireOptions>, AsyncDisposable
{
  readonly #engine: TaskQueueEngine;

  constructor(options: TaskQueueOptions = {}) {
    super();
    this.#engine = new TaskQueueEngine(this, options);
  }

  /** Default run timeout (ms, > 0) for tasks added from now on, or undefined. */
  get runTimeout(): number | undefined {
    return this.#engine.runTimeout;
  }
  set runTimeout(value: number | undefined) {
    this.#engine.runTimeout = value === undefined ? undefined : checkRunTimeout(value);
  }
  /** Tasks waiting to start. */
  get waiting(): number {
    return this.#engine.size;
  }
  /** Tasks running. */
  get running(): number {
    return this.#engine.pending;
  }
  get isPaused(): boolean {
    return this.#engine.isPaused;
  }
  /** Whether waiting tasks are held back by `intervalCap` right now. */
  get isRateLimited(): boolean {
    return this.#engine.isRateLimited;
  }
  /** Every slot busy (or rate-limited) and tasks waiting. */
  get isSaturated(): boolean {
    return this.#engine.isSaturated;
  }
  /** Most tasks running at once; settable at run time (raising it starts waiting tasks). */
  get concurrency(): number {
    return this.#engine.concurrency;
  }
  set concurrency(value: number) {
    this.#engine.concurrency = value;
  }
  /** The running tasks, for debugging stuck work. */
  get runningTasks(): RunningTask[] {
    return this.#engine.runningTasks;
  }
  stats(): TaskQueueStats {
    return this.#engine.stats();
  }
  /** Waiting tasks with the given priority. */
  sizeBy(options: Readonly<Partial<TaskOptions>>): number {
    return this.#engine.sizeBy(options);
  }

  /**
   * Add a task. Resolves or rejects with the task's outcome. Rejects with
   * `QueueFullError` at `maxWaiting`, `ClosedError` after `close()`/`destroy()`,
   * the signal's reason on abort, `TimeoutError` when the wait passes its
   * `timeout` or the run its `runTimeout`. Starts `fn` synchronously when
   * there is room; never on an aborted signal. Invalid options throw.
   */
  add<R>(fn: (context: TaskContext) => R | PromiseLike<R>, options?: TaskOptions): Promise<Awaited<R>> {
    return this.#engine.add(fn, options, waitTimeout(options));
  }
  /** Add several tasks; resolves with all results (rejects with the first error). */
  addAll<R>(
    fns: readonly ((context: TaskContext) => R | PromiseLike<R>)[],
    options?: TaskOptions,
  ): Promise<Awaited<R>[]> {
    return Promise.all(fns.map((fn) => this.add(fn, options)));
  }
  /** The admission protocol's `run`: the same as `add`. */
  run<T>(fn: (context: RunContext) => T | PromiseLike<T>, options?: TaskOptions): Promise<T> {
    return this.#engine.add(fn, options, waitTimeout(options)) as Promise<T>;
  }
  /**
   * A slot of this queue (counted against `concurrency` and `intervalCap`),
   * held until `release()`.
   */
  acquire(options?: TaskAcquireOptions): Promise<Permit> {
    return new Promise<Permit>((resolve, reject) => {
      this.#engine
        .add(
          () => new Promise<void>((done) => resolve(new Permit({ releasePermit: () => done() }, 1))),
          { ...waitOptions(options), runTimeout: Number.POSITIVE_INFINITY },
          waitTimeout(options),
        )
        .catch(reject);
    });
  }
  /** A slot now, or `undefined`. Never jumps a waiting task. */
  tryAcquire(): Permit | undefined {
    if (!this.#engine.startable) return undefined;
    let permit: Permit | undefined;
    // A task that can start starts synchronously inside add(): the permit exists right after.
    const task = this.#engine.add(
      () =>
        new Promise<void>((done) => {
          permit = new Permit({ releasePermit: () => done() }, 1);
        }),
      { runTimeout: Number.POSITIVE_INFINITY },
      0,
    );
    task.catch(() => {}); // a lease never fails once it started
    return permit;
  }
  /** Whether `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#engine.closed;
  }
  /** Resume (or begin) starting tasks. */
  start(): this {
    this.#engine.start();
    return this;
  }
  /** Stop starting tasks; running ones continue. */
  pause(): void {
    this.#engine.pause();
  }
  /** Move a waiting task (by `id`) to a new priority. */
  setPriority(id: string, priority: number): void {
    this.#engine.setPriority(id, priority);
  }
  /**
   * Remove every waiting task. They reject with `ClearedError`
   * (`SLUICE_CLEARED`) unless `rejectOnClear: false`. Running tasks continue;
   * rate-limit history is kept.
   */
  clear(): void {
    this.#engine.clear();
  }
  /** Resolves when nothing is waiting. */
  onEmpty(options?: WaitOptions): Promise<void> {
    return this.#engine.onEmpty(options);
  }
  /** Resolves when nothing is waiting or running. */
  onIdle(options?: WaitOptions): Promise<void> {
    return this.#engine.onIdle(options);
  }
  /** Resolves when nothing is running (waiting tasks may remain, e.g. while paused). */
  onPendingZero(options?: WaitOptions): Promise<void> {
    return this.#engine.onPendingZero(options);
  }
  /**
   * Backpressure: resolves when fewer than `limit` tasks are waiting.
   * `await queue.onSizeLessThan(n)` before each `add` caps the backlog at n.
   */
  onSizeLessThan(limit: number, options?: WaitOptions): Promise<void> {
    return this.#engine.onSizeLessThan(limit, options);
  }
  /** Resolves when the queue becomes rate-limited. */
  onRateLimit(options?: WaitOptions): Promise<void> {
    return this.#engine.onRateLimit(options);
  }
  /** Resolves when the queue is no longer rate-limited. */
  onRateLimitCleared(options?: WaitOptions): Promise<void> {
    return this.#engine.onRateLimitCleared(options);
  }
  /** Rejects with the first task error from now on. */
  onError(options?: WaitOptions): Promise<never> {
    return this.#engine.onError(options);
  }
  /**
   * Graceful: refuse new tasks (`ClosedError`), let waiting and running ones
   * finish; resolves when idle. Idempotent.
   */
  close(): Promise<void> {
    return this.#engine.close();
  }
  /**
   * Immediate: refuse new tasks and reject every waiting task with
   * `ClosedError` (`cause` = `reason`). Running tasks cannot be revoked; their
   * signals are the way to stop them. Resolves when they have finished.
   * Idempotent.
   */
  destroy(reason?: unknown): Promise<void> {
    return this.#engine.destroy(reason);
  }
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function waitOptions(options: TaskAcquireOptions | undefined): TaskOptions {
  if (options === undefined) return NO_OPTIONS;
  return { priority: options.priority, signal: options.signal };
}

function waitTimeout(options: { readonly timeout?: number } | undefined): number {
  return options?.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
}

function checkRunTimeout(value: unknown): number {
  const ms = checkMs('runTimeout', value);
  if (ms === 0) throw new RangeError(`Expected \`runTimeout\` to be a number of milliseconds > 0, got ${show(value)}`);
  return ms;
}
