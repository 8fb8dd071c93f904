/**
 * Long file: one class, the queue's state and its every transition (add,
 * start, finish, clear, close); the task record, the guarded run and the
 * rate gate live in QueuedTask.ts and StartGate.ts.
 */
import { EventEmitter } from 'node:events';
import type { Admission, AdmissionStats, Lifecycle, RunContext } from './admission.js';
import { type Clock, systemClock } from './clock.js';
import { contextFree } from './context.js';
import { when } from './Emitter.js';
import { ClearedError, ClosedError, QueueFullError, TimeoutError } from './errors.js';
import { Permit } from './Permit.js';
import { Guard, NO_SIGNAL, QueuedTask, runGuarded, type TaskContext } from './QueuedTask.js';
import type { RateLimit } from './RateLimit.js';
import { StartGate } from './StartGate.js';
import { admissions, Trace } from './trace.js';
import {
  checkBoolean,
  checkCount,
  checkFiniteNumber,
  checkFunction,
  checkMs,
  checkName,
  checkRemoved,
  checkRenamed,
  checkSignal,
  show,
} from './validate.js';
import { WaitCounters, type Waiter, Waiters } from './Waiters.js';

export type { TaskContext } from './QueuedTask.js';

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
  /**
   * Limits on the rate of starts, as `RateLimiter` takes them: each start is
   * one unit against every limit, e.g. `{ limit: 100, interval: 1000,
   * algorithm: 'sliding-window' }`. @default none
   */
  readonly limits?: RateLimit | readonly RateLimit[];
  /** Most tasks allowed to wait (running tasks do not count). An integer >= 0, or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /**
   * At `maxWaiting`: `'reject'` refuses the new task with `QueueFullError`;
   * `'drop-oldest'` evicts the task that has waited longest (it rejects with
   * `QueueFullError`) and queues the new one. @default 'reject'
   */
  readonly overflow?: OverflowBehaviour;
  /** Time source for timeouts and rate limits. @default systemClock */
  readonly clock?: Clock;
  /** Names the queue on the admission channel (`ADMISSION_CHANNEL`, `sluice/otel`). @default 'TaskQueue' */
  readonly name?: string;
}

/** Options of {@link TaskQueue.add} (and `run`). */
export interface TaskOptions {
  /** Higher runs first; FIFO among equals. Finite. @default 0 */
  readonly priority?: number;
  /** Identifier for `setPriority`. @default an increasing number, as a string */
  readonly id?: string;
  /** Abort: a waiting task leaves the queue; a running one rejects (and its work sees the signal). */
  readonly signal?: AbortSignal | undefined;
  /** Most ms to wait for a start; `0` means now or fail (`TimeoutError`). @default Infinity */
  readonly timeout?: number;
  /** Run timeout for this task in ms (> 0), counted from its start. @default the queue's `runTimeout` */
  readonly runTimeout?: number;
}

/** Options of {@link TaskQueue.acquire} (the admission protocol). */
export type TaskAcquireOptions = Pick<TaskOptions, 'signal' | 'timeout' | 'priority'>;

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

/** Options of the `on*` waiting helpers. */
export interface WaitOptions {
  readonly signal?: AbortSignal | undefined;
}

/**
 * For a wrapper that gives the queue another surface (the drop-ins): an
 * emitter that hears what happens (`add`, `active`, `next`, `completed`,
 * `error`, `empty`, `idle`, `pendingZero`, `rateLimit`, `rateLimitCleared`)
 * and two behaviours. Not part of the public API.
 */
export const QUEUE_HOOKS: unique symbol = Symbol('sluice.queueHooks');
export interface QueueHooks {
  readonly events: EventEmitter;
  /** `clear()` forgets the waiting tasks (their promises never settle) instead of rejecting them. */
  readonly dropOnClear?: boolean;
  /** With fixed-window limits: tasks still running when a window opens count against it. */
  readonly carryover?: boolean;
}

/** The default of `add()`'s options: shared, so a plain `add(fn)` allocates no object for it. */
const NO_OPTIONS: TaskOptions = Object.freeze({});

/**
 * A promise queue: concurrency, priorities, rate limits on starts, run and
 * wait timeouts, a bounded backlog and backpressure, on the one waiter engine
 * (O(1) abort, no timer while idle).
 *
 * ```ts
 * const queue = new TaskQueue({ concurrency: 10, limits: { limit: 100, interval: 1000 } });
 * for await (const row of rows) {
 *   await queue.onWaitingBelow(100); // backpressure: never more than 100 waiting
 *   queue.add(({ signal }) => upsert(row, { signal }));
 * }
 * await queue.onIdle();
 * ```
 *
 * A task that can start when added starts synchronously inside `add()`.
 * Queued tasks run in the AsyncLocalStorage context of their `add()` call.
 */
export class TaskQueue implements Admission<Permit, TaskAcquireOptions>, Lifecycle {
  /** Waiting tasks. A waiter's `data` is the task's function, its `extra` the task's key, or the whole record. */
  readonly #waiters: Waiters;
  #running = 0;
  #concurrency: number;
  #paused: boolean;
  #closed = false;
  #runTimeout: number | undefined;
  readonly #gate: StartGate | undefined;
  #resumeTimer: unknown = undefined;
  #rateLimited = false;
  readonly #maxWaiting: number;
  readonly #overflow: OverflowBehaviour;
  readonly #clock: Clock;
  /** Where the queue reports what happens: the hooks' emitter, or one made when someone waits on a condition. */
  #events: EventEmitter | undefined;
  readonly #dropOnClear: boolean;
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
  #rejected = 0;
  readonly #counters = new WaitCounters();
  readonly #trace: Trace;
  #wallAtZero: number | undefined = undefined;

  constructor(options: TaskQueueOptions = {}) {
    checkRenamed(options, { timeout: 'runTimeout', maxSize: 'maxWaiting' });
    for (const name of ['intervalCap', 'interval', 'strict', 'carryoverIntervalCount']) {
      checkRemoved(options, name, "rate limits are `limits: { limit, interval, algorithm: 'fixed-window' }`");
    }
    checkRemoved(options, 'queueClass', 'TaskQueue orders by priority, FIFO among equals');
    checkRemoved(options, 'rejectOnClear', 'clear(reason) rejects every waiting task');
    this.#concurrency =
      options.concurrency === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('concurrency', options.concurrency, 1, true);
    this.#paused = options.autoStart === undefined ? false : !checkBoolean('autoStart', options.autoStart);
    this.#runTimeout = options.runTimeout === undefined ? undefined : checkRunTimeout(options.runTimeout);
    this.#maxWaiting =
      options.maxWaiting === undefined
        ? Number.POSITIVE_INFINITY
        : checkCount('maxWaiting', options.maxWaiting, 0, true);
    const overflow = options.overflow ?? 'reject';
    if (overflow !== 'reject' && overflow !== 'drop-oldest') {
      throw new TypeError(`Expected \`overflow\` to be 'reject' or 'drop-oldest', got ${show(overflow)}`);
    }
    this.#overflow = overflow;
    this.#clock = options.clock ?? systemClock;
    this.#trace = new Trace(this, 'TaskQueue', checkName(options.name, 'TaskQueue'), this.#clock);
    const hooks = (options as { [QUEUE_HOOKS]?: QueueHooks })[QUEUE_HOOKS];
    this.#events = hooks?.events;
    this.#dropOnClear = hooks?.dropOnClear === true;
    this.#gate = options.limits === undefined ? undefined : new StartGate(options.limits, hooks?.carryover === true);
    this.#waiters = this.#newWaiters();
  }

  #newWaiters(): Waiters {
    return new Waiters(
      {
        // A waiting task left by abort or its wait's deadline: the rest may start.
        left: () => {
          this.#process();
          this.#events?.emit('next');
        },
        timeoutError: (_waiter, ms) => {
          this.#timedOut++;
          return this.#waitTimeoutError(ms);
        },
      },
      this.#clock,
      this.#counters,
      this.#trace,
    );
  }

  /** Tasks waiting to start. */
  get waiting(): number {
    return this.#waiters.size;
  }
  /** Tasks running. */
  get running(): number {
    return this.#running;
  }
  get isPaused(): boolean {
    return this.#paused;
  }
  /** Whether `close()` or `destroy()` was called. */
  get closed(): boolean {
    return this.#closed;
  }
  /** Whether waiting tasks are held back by the rate limits right now. */
  get isRateLimited(): boolean {
    return this.#rateLimited;
  }
  /** Most tasks running at once; settable at run time (raising it starts waiting tasks). */
  get concurrency(): number {
    return this.#concurrency;
  }
  set concurrency(value: number) {
    this.#concurrency = checkCount('concurrency', value, 1, true);
    this.#process();
  }
  /** Default run timeout (ms, > 0) for tasks added from now on, or undefined. */
  get runTimeout(): number | undefined {
    return this.#runTimeout;
  }
  set runTimeout(value: number | undefined) {
    this.#runTimeout = value === undefined ? undefined : checkRunTimeout(value);
  }

  /** The running tasks, for debugging stuck work. */
  get runningTasks(): RunningTask[] {
    const now = this.#clock.now();
    // Wall time of the clock's zero, taken once: a task's startTime reads the same every time.
    this.#wallAtZero ??= Date.now() - now;
    const out: RunningTask[] = [];
    for (let task = this.#runHead; task !== undefined; task = task.next) {
      out.push({
        id: task.id,
        priority: task.priority,
        startTime: Math.round(this.#wallAtZero + task.startedAt),
        runTimeout: task.timeout,
        runTimeoutRemaining: task.timeout === undefined ? undefined : Math.max(0, task.startedAt + task.timeout - now),
      });
    }
    return out.reverse();
  }

  stats(): TaskQueueStats {
    return {
      running: this.#running,
      waiting: this.#waiters.size,
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

  /** Waiting tasks with `priority`. O(waiting). */
  waitingAt(priority: number): number {
    let count = 0;
    for (const waiter of this.#waiters) if (waiter.priority === priority) count++;
    return count;
  }

  /** Whether a task added now would start at once (room, no one waiting, the rate limits allow). */
  get startable(): boolean {
    if (this.#closed || this.#paused || this.#waiters.size > 0 || this.#running >= this.#concurrency) return false;
    return this.#gate === undefined || this.#gate.wait(this.#clock.now(), this.#running) === 0;
  }

  /**
   * Add a task. Resolves or rejects with the task's outcome. Rejects with
   * `QueueFullError` at `maxWaiting`, `ClosedError` after `close()`/`destroy()`,
   * the signal's reason on abort, `TimeoutError` when the wait passes its
   * `timeout` or the run its `runTimeout`. Starts `fn` synchronously when
   * there is room; never on an aborted signal. Invalid options throw.
   */
  add<R>(fn: (context: TaskContext) => R | PromiseLike<R>, options: TaskOptions = NO_OPTIONS): Promise<Awaited<R>> {
    checkFunction('fn', fn);
    const priority = options.priority === undefined ? 0 : checkFiniteNumber('priority', options.priority);
    const runTimeout = options.runTimeout === undefined ? this.#runTimeout : checkRunTimeout(options.runTimeout);
    const wait = options.timeout === undefined ? Number.POSITIVE_INFINITY : checkMs('timeout', options.timeout);
    const signal = checkSignal('signal', options.signal);
    if (options.id !== undefined && typeof options.id !== 'string') {
      throw new TypeError(`Expected \`id\` to be a string, got ${show(options.id)}`);
    }
    if (this.#closed) {
      this.#rejected++;
      return this.#refusal(new ClosedError(`TaskQueue is closed (${this.#describe()})`));
    }
    if (signal?.aborted) return this.#waiters.refuseAborted(signal);
    // Told on the admission channel (its start and its end) when someone listens.
    const work = admissions.hasSubscribers ? this.#trace.wrap(fn) : fn;
    const key = options.id ?? this.#nextId++;
    const guard = runTimeout === undefined && signal === undefined ? undefined : new Guard(runTimeout, signal);
    if (!this.#paused && this.#waiters.size === 0 && this.#running < this.#concurrency) {
      // Room now and no one ahead: start synchronously.
      const now = this.#gate === undefined ? 0 : this.#clock.now();
      if (this.#gate === undefined || this.#gate.wait(now, this.#running) === 0) {
        this.#added++;
        this.#events?.emit('add');
        this.#take(now);
        const result = this.#execute(new QueuedTask(work as (context: TaskContext) => unknown, priority, key, guard));
        this.#events?.emit('active');
        return result as Promise<Awaited<R>>;
      }
    }
    const refused = this.#refuse(wait);
    if (refused !== undefined) return refused;
    return this.#enqueue(work as (context: TaskContext) => unknown, priority, key, guard, wait) as Promise<Awaited<R>>;
  }

  /** A refusal at once, told on the admission channel. */
  #refusal(error: unknown): Promise<never> {
    if (admissions.hasSubscribers) this.#trace.rejected(error);
    return Promise.reject(error);
  }

  /** Why a task that cannot start now may not wait either, or undefined. Drops the oldest under 'drop-oldest'. */
  #refuse(wait: number): Promise<never> | undefined {
    if (wait === 0) {
      this.#timedOut++;
      return this.#refusal(this.#waitTimeoutError(0));
    }
    if (this.#waiters.size < this.#maxWaiting) return undefined;
    this.#rejected++;
    if (this.#overflow === 'reject' || this.#maxWaiting === 0) {
      return this.#refusal(
        new QueueFullError(
          `TaskQueue is full (${this.#waiters.size}/${this.#maxWaiting} waiting, ${this.#running} running)`,
        ),
      );
    }
    this.#failOldest(
      new QueueFullError(`TaskQueue is full (${this.#maxWaiting} waiting): the oldest waiting task was dropped`),
    );
    return undefined;
  }

  /**
   * Queue a task. The caller's promise waits on a gate created here, in the
   * caller's AsyncLocalStorage context (or, with no context to carry, is
   * itself the gate: see context.ts).
   */
  #enqueue(
    fn: (context: TaskContext) => unknown,
    priority: number,
    key: string | number,
    guard: Guard | undefined,
    wait: number,
  ): Promise<unknown> {
    const direct = contextFree();
    let gate: Promise<unknown>;
    if (guard === undefined && this.#overflow === 'reject') {
      // The common case keeps no task record while it waits: the waiter holds
      // the function and the key (a backlog is a million of these).
      gate = this.#waiters.wait(1, priority, fn, key, undefined, wait, direct);
    } else {
      const task = new QueuedTask(fn, priority, key, guard);
      task.startedAt = this.#arrivals++;
      gate = this.#waiters.wait(1, priority, fn, task, guard?.signal, wait, direct);
    }
    this.#added++;
    this.#events?.emit('add');
    this.#process();
    if (direct) return gate;
    return gate.then(this.#resumeGated);
  }

  /** Answer the task that has waited longest (any priority) with `error`. O(priorities). */
  #failOldest(error: unknown): void {
    let oldest: Waiter | undefined;
    // With drop-oldest every waiting task keeps its record; `startedAt` holds its arrival number.
    const arrival = (waiter: Waiter) => (waiter.extra as QueuedTask).startedAt;
    for (const waiter of this.#waiters.heads()) {
      if (oldest === undefined || arrival(waiter) < arrival(oldest)) oldest = waiter;
    }
    if (oldest !== undefined) this.#waiters.fail(oldest, error);
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
    return this.add(fn, options) as Promise<T>;
  }

  /** A slot of this queue (counted against `concurrency` and the rate limits), held until `release()`. */
  acquire(options?: TaskAcquireOptions): Promise<Permit> {
    const settings: TaskOptions =
      options === undefined
        ? { runTimeout: Number.POSITIVE_INFINITY }
        : {
            priority: options.priority,
            signal: options.signal,
            timeout: options.timeout,
            runTimeout: Number.POSITIVE_INFINITY,
          };
    return new Promise<Permit>((resolve, reject) => {
      this.add(
        () => new Promise<void>((done) => resolve(new Permit({ releasePermit: () => done() }, 1))),
        settings,
      ).catch(reject);
    });
  }

  /** A slot now, or `undefined`. Never jumps a waiting task. */
  tryAcquire(): Permit | undefined {
    if (!this.startable) return undefined;
    let permit: Permit | undefined;
    // A task that can start starts synchronously inside add(): the permit exists right after.
    const task = this.add(
      () =>
        new Promise<void>((done) => {
          permit = new Permit({ releasePermit: () => done() }, 1);
        }),
      { runTimeout: Number.POSITIVE_INFINITY, timeout: 0 },
    );
    task.catch(() => {}); // a lease never fails once it started
    return permit;
  }

  /** Resume (or begin) starting tasks. */
  start(): this {
    if (!this.#paused) return this;
    this.#paused = false;
    this.#process();
    return this;
  }

  /** Stop starting tasks; running ones continue. */
  pause(): void {
    this.#paused = true;
  }

  /** Move a waiting task (by `id`) to a new priority. Throws a `ReferenceError` when no waiting task has it. */
  setPriority(id: string, priority: number): void {
    checkFiniteNumber('priority', priority);
    for (const waiter of this.#waiters) {
      const extra = waiter.extra;
      if ((extra instanceof QueuedTask ? extra.id : String(extra)) === id) {
        if (extra instanceof QueuedTask) extra.priority = priority;
        this.#waiters.reprioritize(waiter, priority);
        return;
      }
    }
    throw new ReferenceError(`No promise function with the id "${id}" exists in the queue.`);
  }

  /**
   * Remove every waiting task, rejecting each with `reason` (default
   * `ClearedError`, `SLUICE_CLEARED`). Running tasks continue; rate-limit
   * history is kept. Returns how many were removed.
   */
  clear(reason: unknown = new ClearedError('The task was removed by clear()')): number {
    return this.#removeWaiting(reason, this.#dropOnClear);
  }

  /** Empty the queue, rejecting each removed task with `error` (or, `drop`, forgetting it), and tell the listeners. */
  #removeWaiting(error: unknown, drop: boolean): number {
    const waiting = this.#waiters.size;
    if (drop) this.#waiters.takeAll();
    else this.#waiters.failAll(error);
    this.#clearResumeTimer();
    this.#updateRateLimited();
    const events = this.#events;
    if (events !== undefined) {
      events.emit('empty');
      if (this.#running === 0) events.emit('idle');
      events.emit('next');
    }
    return waiting;
  }

  /** Resolves when nothing is waiting. */
  onEmpty(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['empty'], () => this.#waiters.size === 0, options);
  }
  /** Resolves when nothing is waiting or running. */
  onIdle(options?: WaitOptions): Promise<void> {
    return this.#waitFor(['idle'], () => this.#waiters.size === 0 && this.#running === 0, options);
  }
  /**
   * Backpressure: resolves when fewer than `limit` tasks are waiting.
   * `await queue.onWaitingBelow(n)` before each `add` caps the backlog at n.
   */
  onWaitingBelow(limit: number, options?: WaitOptions): Promise<void> {
    checkCount('limit', limit, 1, true); // below 1 would never come
    return this.#waitFor(['next', 'active'], () => this.#waiters.size < limit, options);
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
   * Now: refuse new tasks and reject every waiting task with `ClosedError`
   * (`cause` = `reason`). Running tasks cannot be revoked; their signals are
   * the way to stop them. Resolves when they have finished. Idempotent.
   */
  destroy(reason?: unknown): Promise<void> {
    this.#closed = true;
    const error = new ClosedError(`TaskQueue was destroyed (${this.#waiters.size} waiting rejected)`, {
      cause: reason,
    });
    this.#removeWaiting(error, false); // destroy() answers every waiter, whatever clear() does
    return this.onIdle();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #waitFor(events: readonly string[], done: () => boolean, options: WaitOptions | undefined): Promise<void> {
    const signal = checkSignal('signal', options?.signal);
    if (done()) return Promise.resolve();
    this.#events ??= new EventEmitter();
    return when(this.#events, events, done, signal);
  }

  #describe(): string {
    return `${this.#running} running, ${this.#waiters.size} waiting`;
  }

  #waitTimeoutError(ms: number): TimeoutError {
    return new TimeoutError(`TaskQueue wait timed out after ${ms} ms (${this.#describe()})`);
  }

  /** Runs in the reaction of a gate, in the caller's context. Shared by all tasks. */
  readonly #resumeGated = (value: unknown): Promise<unknown> => this.#execute(value as QueuedTask) as Promise<unknown>;

  /** Start as many waiting tasks as the limits allow. */
  #process(): void {
    while (this.#tryStart()) {
      // keep starting
    }
    this.#updateRateLimited();
  }

  #tryStart(): boolean {
    if (this.#waiters.size === 0) {
      this.#clearResumeTimer();
      const events = this.#events;
      if (events !== undefined) {
        events.emit('empty');
        if (this.#running === 0) events.emit('idle');
      }
      return false;
    }
    if (this.#paused || this.#running >= this.#concurrency) return false;
    // Read the clock only when a rate limit needs it.
    const now = this.#gate === undefined ? 0 : this.#clock.now();
    if (this.#gate !== undefined) {
      const delay = this.#gate.wait(now, this.#running);
      if (delay > 0) {
        this.#scheduleResume(delay);
        return false;
      }
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
    this.#events?.emit('active');
    return true;
  }

  /** The next task to start, out of the queue, with its waiter's resolver. */
  #dequeue(): QueuedTask {
    const waiter = this.#waiters.takeFirst() as Waiter;
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
    return task;
  }

  /** Count a start against the concurrency and rate limits. */
  #take(now: number): void {
    this.#running++;
    this.#admitted++;
    this.#gate?.take(now);
  }

  #scheduleResume(delay: number): void {
    if (this.#resumeTimer !== undefined) return;
    // Kept referenced: tasks are waiting on it.
    this.#resumeTimer = this.#clock.setTimeout(() => {
      this.#resumeTimer = undefined;
      this.#process();
    }, delay);
  }

  #clearResumeTimer(): void {
    if (this.#resumeTimer === undefined) return;
    this.#clock.clearTimeout(this.#resumeTimer);
    this.#resumeTimer = undefined;
  }

  #updateRateLimited(): void {
    const limited =
      this.#gate !== undefined && this.#waiters.size > 0 && this.#gate.wait(this.#clock.now(), this.#running) > 0;
    if (limited !== this.#rateLimited) {
      this.#rateLimited = limited;
      this.#events?.emit(limited ? 'rateLimit' : 'rateLimitCleared');
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
      // Aborted between its grant and this reaction: it never ran, so its start is given back.
      this.#gate?.untake();
      return this.#fail(task, guard.signal.reason);
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
    return runGuarded(task, this.#clock, this.#runTimeoutError).then<unknown, unknown>(
      (value) => this.#succeed(task, value),
      (error) => this.#fail(task, error),
    );
  }

  readonly #runTimeoutError = (ms: number): TimeoutError => {
    this.#runTimedOut++;
    return new TimeoutError(`Task timed out after ${ms}ms (queue has ${this.#describe()})`);
  };

  #succeed(task: QueuedTask, value: unknown): unknown {
    this.#completed++;
    const go = task.go;
    if (go !== undefined) {
      task.go = undefined;
      go(value);
    }
    this.#events?.emit('completed', value);
    this.#finish(task);
    return value;
  }

  #fail(task: QueuedTask, error: unknown): Promise<never> | undefined {
    this.#failed++;
    const go = task.go;
    if (go !== undefined) task.go = undefined;
    const events = this.#events;
    if (events !== undefined && events.listenerCount('error') > 0) events.emit('error', error);
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
    this.#running--;
    if (this.#running === 0) this.#events?.emit('pendingZero');
    this.#process();
    this.#events?.emit('next');
  }
}

function checkRunTimeout(value: unknown): number {
  const ms = checkMs('runTimeout', value);
  if (ms === 0) throw new RangeError(`Expected \`runTimeout\` to be a number of milliseconds > 0, got ${show(value)}`);
  return ms;
}
