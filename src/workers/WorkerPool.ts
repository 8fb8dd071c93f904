import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type ResourceLimits, type TransferListItem, Worker } from 'node:worker_threads';
import type { AdmissionStats } from '../core/admission.js';
import { type Clock, systemClock } from '../core/clock.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import {
  checkBoolean,
  checkCount,
  checkFiniteNumber,
  checkMs,
  checkRenamed,
  checkSignal,
  show,
} from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';
import { BOOTSTRAP } from './bootstrap.js';
import { WorkerCrashedError } from './errors.js';
import { Histogram, type HistogramSummary } from './Histogram.js';

/** Options of the {@link WorkerPool} constructor. */
export interface WorkerPoolOptions {
  /** The worker module (ESM or CommonJS): a path or `file:` URL. Its exported functions are the tasks. */
  readonly filename: string | URL;
  /** Threads kept even when idle (started at once). An integer >= 0. @default 0 */
  readonly minThreads?: number;
  /** Most threads. An integer >= 1, >= minThreads. @default os.availableParallelism() */
  readonly maxThreads?: number;
  /** An idle thread above `minThreads` exits after this many ms. @default 10000 */
  readonly idleTimeout?: number;
  /** Most tasks waiting for a thread; one more rejects with `QueueFullError`. An integer >= 0 or Infinity. @default Infinity */
  readonly maxWaiting?: number;
  /** Tasks a thread runs at once (for async tasks). An integer >= 1. @default 1 */
  readonly concurrentTasksPerWorker?: number;
  /**
   * Queued tasks beyond the threads' capacity at which `needsDrain` turns
   * true (see `needsDrain`). An integer >= 0. @default maxThreads x concurrentTasksPerWorker
   */
  readonly highWaterMark?: number;
  /** Recycle a thread after this many tasks. @default Infinity */
  readonly maxTasksPerWorker?: number;
  /** Recycle a thread whose heap exceeds this many bytes after a task. @default Infinity */
  readonly maxHeapBytes?: number;
  /**
   * Idle threads sleep in `Atomics.wait` and are woken directly for the next
   * task (as piscina does): a faster round trip, but timers and other
   * callbacks inside an idle worker do not run until it gets a task. Turn off
   * for worker modules that keep background work. @default true
   */
  readonly atomics?: boolean;
  /** Passed to each `Worker`. */
  readonly resourceLimits?: ResourceLimits;
  /** Passed to each `Worker` (readable as `workerData` in the module). */
  readonly workerData?: unknown;
  /** Passed to each `Worker`. */
  readonly execArgv?: string[];
  /** Passed to each `Worker`. @default process.env (shared) */
  readonly env?: NodeJS.ProcessEnv;
  /** For task timeouts and idle timeouts. @default systemClock */
  readonly clock?: Clock;
}

/** Options of {@link WorkerPool.run}. */
export interface WorkerRunOptions {
  /** The exported function to call. @default 'default' */
  readonly name?: string;
  /** Objects to transfer rather than copy (ArrayBuffers, MessagePorts). */
  readonly transferList?: readonly TransferListItem[];
  /** Abort: a queued task leaves the queue; a running task's thread is terminated and replaced. */
  readonly signal?: AbortSignal | undefined;
  /** Most ms to wait for a thread; then `TimeoutError` and the task never runs. @default Infinity */
  readonly timeout?: number;
  /** Most ms the task may run (from dispatch); past it, its thread is terminated and replaced (`TimeoutError`). @default Infinity */
  readonly runTimeout?: number;
  /** Higher is dispatched first; FIFO among equals. @default 0 */
  readonly priority?: number;
}

/** `running` counts tasks on threads now; `admitted` tasks dispatched to a thread. */
export interface WorkerPoolStats extends AdmissionStats {
  readonly threads: number;
  readonly completed: number;
  /** Tasks that ran past their `runTimeout`. (`timedOut` counts waits.) */
  readonly runTimedOut: number;
  readonly failed: number;
  /** Threads that died unexpectedly and were replaced. */
  readonly crashed: number;
  /** Threads retired after `maxTasksPerWorker` or `maxHeapBytes`. */
  readonly recycled: number;
  /** Time tasks ran, in ms. */
  readonly runTime: HistogramSummary;
  /** Time tasks waited for a thread, in ms. */
  readonly waitTime: HistogramSummary;
  /** Share of the threads' capacity spent running tasks since the pool started (0..1). */
  readonly utilization: number;
}

export interface WorkerPoolEvents {
  /** The pool had `needsDrain` and now has room again. */
  drain: [];
  workerCreate: [{ readonly threadId: number }];
  workerExit: [
    { readonly threadId: number; readonly reason: 'idle' | 'recycled' | 'crashed' | 'cancelled' | 'closed' },
  ];
}

/** A task: waiting in the engine's queue (as its waiter's `data`), then running on a thread. */
class Task {
  /** The caller's promise, answered with the result (set when the task leaves the queue). */
  resolve: (value: unknown) => void = noop;
  /** While running: the abort listener that stops the thread. */
  onAbort: (() => void) | undefined = undefined;
  timer: unknown = undefined;
  startedAt = 0;
  thread: Thread | undefined = undefined;
  constructor(
    readonly id: number,
    readonly name: string,
    readonly data: unknown,
    readonly transferList: readonly TransferListItem[] | undefined,
    readonly timeout: number,
    readonly signal: AbortSignal | undefined,
    readonly queuedAt: number,
  ) {}
}

const noop = (): void => {};

class Thread {
  readonly running = new Map<number, Task>();
  /** The wake-up counter shared with the worker (atomics mode). */
  wake: Int32Array | undefined = undefined;
  done = 0;
  retiring = false;
  exiting: Thread['exitReason'] | undefined = undefined;
  exitReason: 'idle' | 'recycled' | 'crashed' | 'cancelled' | 'closed' = 'crashed';
  idleTimer: unknown = undefined;
  idleCheck = false;
  referenced = true;
  constructor(readonly worker: Worker) {}
}

/**
 * A pool of worker threads for CPU-bound work, speaking the admission
 * protocol: `run(data, { name, signal, timeout, runTimeout, priority })`.
 *
 * - Strict FIFO dispatch (within a priority): a task never overtakes one queued before it.
 * - Backpressure: `needsDrain` turns true when queued + running tasks reach the
 *   threads' capacity plus `highWaterMark`; `drain` fires once they fall below.
 * - Cancellation: a queued task leaves the queue; a running task's thread is
 *   terminated (the only way to stop synchronous JavaScript) and replaced, and
 *   a per-task `runTimeout` does the same.
 * - Recycling after `maxTasksPerWorker` tasks or above `maxHeapBytes`; a
 *   thread that crashes rejects its tasks with `WorkerCrashedError` and is
 *   replaced, never leaving a caller hanging.
 * - Idle threads do not keep the process alive.
 */
export class WorkerPool extends EventEmitter<WorkerPoolEvents> implements AsyncDisposable {
  readonly #url: string;
  readonly #minThreads: number;
  readonly #maxThreads: number;
  readonly #idleTimeout: number;
  readonly #maxWaiting: number;
  readonly #perWorker: number;
  readonly #highWaterMark: number;
  readonly #maxTasksPerWorker: number;
  readonly #maxHeapBytes: number;
  readonly #atomics: boolean;
  readonly #workerOptions: {
    resourceLimits?: ResourceLimits;
    workerData?: unknown;
    execArgv?: string[];
    env?: NodeJS.ProcessEnv;
  };
  readonly #clock: Clock;
  readonly #threads = new Set<Thread>();
  /** Tasks waiting for a thread (FIFO within a priority; abort leaves the queue). */
  readonly #queue: Waiters;
  #nextId = 1;
  #running = 0;
  #needsDrain = false;
  #closing: Promise<void> | undefined = undefined;
  #destroyed = false;
  #idleWaiters: (() => void)[] = [];
  readonly #startedAt: number;
  #admitted = 0;
  #rejected = 0;
  #runTimedOut = 0;
  #busyMs = 0;
  #completed = 0;
  #failed = 0;
  #crashed = 0;
  #recycled = 0;
  readonly #runTime = new Histogram();
  readonly #waitTime = new Histogram();

  constructor(options: WorkerPoolOptions) {
    super();
    if (typeof options !== 'object' || options === null) {
      throw new TypeError(`Expected \`options\` to be an object with \`filename\`, got ${show(options)}`);
    }
    this.#url = moduleUrl(options.filename);
    this.#maxThreads = checkCount('maxThreads', options.maxThreads ?? availableParallelism(), 1, false);
    this.#minThreads = checkCount('minThreads', options.minThreads ?? 0, 0, false);
    if (this.#minThreads > this.#maxThreads) {
      throw new RangeError(
        `Expected \`minThreads\` to be at most \`maxThreads\` (${this.#maxThreads}), got ${show(this.#minThreads)}`,
      );
    }
    this.#idleTimeout = checkMs('idleTimeout', options.idleTimeout ?? 10_000);
    checkRenamed(options, { maxQueue: 'maxWaiting' });
    this.#maxWaiting = checkCount('maxWaiting', options.maxWaiting ?? Number.POSITIVE_INFINITY, 0, true);
    this.#perWorker = checkCount('concurrentTasksPerWorker', options.concurrentTasksPerWorker ?? 1, 1, false);
    this.#highWaterMark = checkCount(
      'highWaterMark',
      options.highWaterMark ?? this.#maxThreads * this.#perWorker,
      0,
      true,
    );
    this.#maxTasksPerWorker = checkCount(
      'maxTasksPerWorker',
      options.maxTasksPerWorker ?? Number.POSITIVE_INFINITY,
      1,
      true,
    );
    this.#maxHeapBytes = checkCount('maxHeapBytes', options.maxHeapBytes ?? Number.POSITIVE_INFINITY, 1, true);
    this.#atomics = options.atomics === undefined ? true : checkBoolean('atomics', options.atomics);
    this.#workerOptions = {
      ...(options.resourceLimits === undefined ? {} : { resourceLimits: options.resourceLimits }),
      ...(options.workerData === undefined ? {} : { workerData: options.workerData }),
      ...(options.execArgv === undefined ? {} : { execArgv: options.execArgv }),
      ...(options.env === undefined ? {} : { env: options.env }),
    };
    this.#clock = options.clock ?? systemClock;
    this.#queue = new Waiters(
      {
        left: () => {
          this.#failed++;
          this.#checkDrain();
          this.#checkIdle();
        },
        timeoutError: (_waiter, ms) =>
          new TimeoutError(
            `Worker pool wait timed out after ${ms} ms (${this.#running} running on ${this.#threads.size} threads, ${this.#queue.size} waiting)`,
          ),
      },
      this.#clock,
    );
    this.#startedAt = this.#clock.now();
    for (let i = 0; i < this.#minThreads; i++) this.#spawn();
  }

  /** The most tasks running at once: threads x tasks per thread. */
  get capacity(): number {
    return this.#maxThreads * this.#perWorker;
  }

  /**
   * True while queued + running tasks are at or above `capacity + highWaterMark`:
   * a producer should wait for `drain` (see `onDrain()`) before adding more.
   */
  get needsDrain(): boolean {
    return this.#needsDrain;
  }

  get closed(): boolean {
    return this.#closing !== undefined;
  }

  /** Resolves at once if `needsDrain` is false, else at the next `drain`. */
  onDrain(): Promise<void> {
    if (!this.#needsDrain) return Promise.resolve();
    return new Promise((resolve) => this.once('drain', resolve));
  }

  stats(): WorkerPoolStats {
    const elapsed = this.#clock.now() - this.#startedAt;
    let busy = this.#busyMs;
    const now = this.#clock.now();
    for (const thread of this.#threads) for (const task of thread.running.values()) busy += now - task.startedAt;
    return {
      threads: this.#threads.size,
      running: this.#running,
      waiting: this.#queue.size,
      admitted: this.#admitted,
      rejected: this.#rejected,
      timedOut: this.#queue.counters.timedOut,
      aborted: this.#queue.counters.aborted,
      completed: this.#completed,
      runTimedOut: this.#runTimedOut,
      failed: this.#failed,
      crashed: this.#crashed,
      recycled: this.#recycled,
      runTime: this.#runTime.summary(),
      waitTime: this.#waitTime.summary(),
      utilization: elapsed <= 0 ? 0 : Math.min(1, busy / (elapsed * this.capacity)),
    };
  }

  /** Run the exported function `name` with `data` on a thread; resolves with its result. */
  run<R = unknown>(data?: unknown, options?: WorkerRunOptions): Promise<R> {
    let name = 'default';
    let timeout = Number.POSITIVE_INFINITY;
    let runTimeout = Number.POSITIVE_INFINITY;
    let priority = 0;
    let signal: AbortSignal | undefined;
    let transferList: readonly TransferListItem[] | undefined;
    if (options !== undefined) {
      if (options.name !== undefined) {
        if (typeof options.name !== 'string')
          throw new TypeError(`Expected \`name\` to be a string, got ${show(options.name)}`);
        name = options.name;
      }
      if (options.timeout !== undefined) timeout = checkMs('timeout', options.timeout);
      if (options.runTimeout !== undefined) runTimeout = checkMs('runTimeout', options.runTimeout);
      if (options.priority !== undefined) priority = checkFiniteNumber('priority', options.priority);
      signal = checkSignal('signal', options.signal);
      transferList = options.transferList;
    }
    if (this.#closing !== undefined) {
      this.#rejected++;
      return Promise.reject(new ClosedError('Worker pool is closed'));
    }
    if (signal?.aborted) return this.#queue.refuseAborted(signal);
    if (this.#queue.size >= this.#maxWaiting && !this.#hasFreeSlot()) {
      this.#rejected++;
      return Promise.reject(
        new QueueFullError(
          `Worker pool queue is full (${this.#queue.size}/${this.#maxWaiting} waiting, ${this.#running} running on ${this.#threads.size} threads)`,
        ),
      );
    }
    const task = new Task(this.#nextId++, name, data, transferList, runTimeout, signal, this.#clock.now());
    // The run timeout starts at dispatch (#start); `timeout` bounds the wait.
    const result = this.#queue.wait<R>(1, priority, task, undefined, signal, timeout);
    this.#pump();
    this.#checkDrain();
    return result;
  }

  /**
   * Stop accepting tasks; finish the queued and running ones; then let every
   * thread exit. Idempotent.
   */
  close(): Promise<void> {
    this.#closing ??= this.#shutdown(false);
    return this.#closing;
  }

  /** Stop now: queued and running tasks reject with `ClosedError` (`cause` = `reason`), threads are terminated. Idempotent. */
  destroy(reason?: unknown): Promise<void> {
    if (this.#closing === undefined || !this.#destroyed) {
      const previous = this.#closing;
      this.#closing = this.#shutdown(true, reason).then(() => previous);
    }
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #shutdown(now: boolean, reason?: unknown): Promise<void> {
    if (now) {
      this.#destroyed = true;
      const error = new ClosedError('Worker pool was destroyed', { cause: reason });
      this.#failed += this.#queue.failAll(error);
      const exits = [...this.#threads].map((thread) => this.#stop(thread, 'closed', error));
      await Promise.all(exits);
      return;
    }
    if (this.#queue.size > 0 || this.#running > 0) {
      await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
    }
    await Promise.all([...this.#threads].map((thread) => this.#stop(thread, 'closed', undefined)));
  }

  #hasFreeSlot(): boolean {
    if (this.#staying() < this.#maxThreads) return true;
    for (const thread of this.#threads) {
      if (!thread.retiring && thread.exiting === undefined && thread.running.size < this.#perWorker) return true;
    }
    return false;
  }

  /** Dispatch queued tasks, in order, to free slots (spawning threads up to maxThreads). */
  #pump(): void {
    while (this.#queue.size > 0) {
      const thread = this.#freeThread() ?? (this.#staying() < this.#maxThreads ? this.#spawn() : undefined);
      if (thread === undefined) return;
      const waiter = this.#queue.first() as Waiter;
      this.#queue.take(waiter);
      const task = waiter.data as Task;
      task.resolve = waiter.resolve;
      this.#start(task, thread);
    }
  }

  #freeThread(): Thread | undefined {
    let best: Thread | undefined;
    for (const thread of this.#threads) {
      if (thread.retiring || thread.exiting !== undefined || thread.running.size >= this.#perWorker) continue;
      if (best === undefined || thread.running.size < best.running.size) best = thread;
      if (thread.running.size === 0) break;
    }
    return best;
  }

  #spawn(): Thread {
    const worker = new Worker(BOOTSTRAP, { eval: true, ...this.#workerOptions });
    const thread = new Thread(worker);
    const shared = this.#atomics ? new SharedArrayBuffer(4) : undefined;
    if (shared !== undefined) thread.wake = new Int32Array(shared);
    // The first message configures the bootstrap; tasks follow in order.
    worker.postMessage({ url: this.#url, heap: this.#maxHeapBytes !== Number.POSITIVE_INFINITY, shared });
    this.#threads.add(thread);
    worker.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: unknown; heap?: number }) =>
      this.#onMessage(thread, message),
    );
    worker.on('error', (error) => this.#onExit(thread, error));
    worker.on('exit', (code) => this.#onExit(thread, code === 0 ? undefined : new Error(`exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    this.#setReferenced(thread, false);
    this.emit('workerCreate', { threadId: worker.threadId });
    this.#armIdle(thread);
    return thread;
  }

  #start(task: Task, thread: Thread): void {
    const now = this.#clock.now();
    this.#waitTime.record(now - task.queuedAt);
    task.startedAt = now;
    task.thread = thread;
    thread.running.set(task.id, task);
    this.#running++;
    this.#admitted++;
    this.#clock.clearTimeout(thread.idleTimer);
    thread.idleTimer = undefined;
    this.#setReferenced(thread, true);
    const signal = task.signal;
    if (signal !== undefined) {
      // Running now: an abort stops the thread (the only way to stop synchronous JavaScript).
      task.onAbort = () => this.#cancel(task, signal.reason, 'cancelled');
      signal.addEventListener('abort', task.onAbort, { once: true });
    }
    if (task.timeout !== Number.POSITIVE_INFINITY) {
      const ms = task.timeout;
      task.timer = this.#clock.setTimeout(() => {
        task.timer = undefined;
        this.#runTimedOut++;
        this.#cancel(
          task,
          new TimeoutError(`Worker task timed out after ${ms} ms (its thread was terminated)`),
          'cancelled',
        );
      }, ms);
    }
    try {
      thread.worker.postMessage({ id: task.id, name: task.name, data: task.data }, task.transferList);
      const wake = thread.wake;
      if (wake !== undefined) {
        Atomics.add(wake, 0, 1);
        Atomics.notify(wake, 0, 1);
      }
    } catch (error) {
      // Not cloneable: the task fails, the thread is fine.
      thread.running.delete(task.id);
      this.#running--;
      this.#settle(task, false, error);
      this.#afterTask(thread);
    }
  }

  #onMessage(
    thread: Thread,
    message: { id: number; ok: boolean; result?: unknown; error?: unknown; heap?: number },
  ): void {
    const task = thread.running.get(message.id);
    if (task === undefined) return;
    thread.running.delete(message.id);
    this.#running--;
    thread.done++;
    const ran = this.#clock.now() - task.startedAt;
    this.#busyMs += ran;
    this.#runTime.record(ran);
    this.#settle(task, message.ok, message.ok ? message.result : message.error);
    if (thread.done >= this.#maxTasksPerWorker || (message.heap ?? 0) > this.#maxHeapBytes) thread.retiring = true;
    this.#afterTask(thread);
  }

  #afterTask(thread: Thread): void {
    if (thread.retiring && thread.running.size === 0 && thread.exiting === undefined) {
      this.#recycled++;
      void this.#stop(thread, 'recycled', undefined);
    }
    this.#pump();
    if (thread.running.size === 0 && thread.exiting === undefined && !thread.idleCheck) {
      // Decide "idle" after the callers have reacted: one awaiting its result
      // usually sends the next task at once, and the thread never goes idle.
      thread.idleCheck = true;
      queueMicrotask(() => {
        thread.idleCheck = false;
        if (thread.running.size === 0 && thread.exiting === undefined) {
          this.#setReferenced(thread, false);
          this.#armIdle(thread);
        }
      });
    }
    this.#checkDrain();
    this.#checkIdle();
  }

  /** Cancel a running task: its thread is terminated (and replaced). */
  #cancel(task: Task, error: unknown, reason: 'cancelled'): void {
    const thread = task.thread;
    if (thread === undefined || !thread.running.has(task.id)) return;
    thread.running.delete(task.id);
    this.#running--;
    this.#settle(task, false, error);
    void this.#stop(
      thread,
      reason,
      new WorkerCrashedError('Its thread was terminated to stop another task (cancelled or timed out)'),
    );
  }

  /** Terminate a thread; tasks still on it reject with `error`. */
  #stop(thread: Thread, reason: Thread['exitReason'], error: unknown): Promise<void> {
    if (thread.exiting === undefined) {
      thread.exiting = reason;
      thread.exitReason = reason;
      this.#clock.clearTimeout(thread.idleTimer);
      this.#failRunning(thread, error ?? new ClosedError('Worker pool was destroyed'));
    }
    return thread.worker.terminate().then(() => {});
  }

  #failRunning(thread: Thread, error: unknown): void {
    for (const task of thread.running.values()) {
      this.#running--;
      this.#settle(task, false, error);
    }
    thread.running.clear();
  }

  #onExit(thread: Thread, error: unknown): void {
    if (!this.#threads.has(thread)) return;
    this.#threads.delete(thread);
    this.#clock.clearTimeout(thread.idleTimer);
    const expected = thread.exiting !== undefined;
    if (!expected) {
      this.#crashed++;
      thread.exitReason = 'crashed';
      this.#failRunning(
        thread,
        new WorkerCrashedError(`A worker thread died while running the task: ${describe(error)}`, { cause: error }),
      );
    }
    this.emit('workerExit', { threadId: thread.worker.threadId, reason: thread.exitReason });
    if (this.#closing === undefined) {
      while (this.#staying() < this.#minThreads) this.#spawn();
      this.#pump();
    }
    this.#checkDrain();
    this.#checkIdle();
  }

  #settle(task: Task, ok: boolean, value: unknown): void {
    if (task.onAbort !== undefined) {
      (task.signal as AbortSignal).removeEventListener('abort', task.onAbort);
      task.onAbort = undefined;
    }
    if (task.timer !== undefined) {
      this.#clock.clearTimeout(task.timer);
      task.timer = undefined;
    }
    task.thread = undefined;
    if (ok) {
      this.#completed++;
      task.resolve(value);
    } else {
      this.#failed++;
      task.resolve(Promise.reject(value));
    }
  }

  #armIdle(thread: Thread): void {
    if (this.#idleTimeout === Number.POSITIVE_INFINITY || thread.idleTimer !== undefined) return;
    thread.idleTimer = this.#clock.setTimeout(
      () => {
        thread.idleTimer = undefined;
        if (thread.running.size === 0 && this.#staying() > this.#minThreads && thread.exiting === undefined) {
          void this.#stop(thread, 'idle', undefined);
        }
      },
      this.#idleTimeout,
      false,
    );
  }

  /** Threads not on their way out. */
  #staying(): number {
    let n = 0;
    for (const thread of this.#threads) if (thread.exiting === undefined) n++;
    return n;
  }

  /** Busy threads keep the process alive; idle ones do not. */
  #setReferenced(thread: Thread, referenced: boolean): void {
    if (thread.referenced === referenced) return;
    thread.referenced = referenced;
    if (referenced) thread.worker.ref();
    else thread.worker.unref();
  }

  #checkDrain(): void {
    const pending = this.#queue.size + this.#running;
    const limit = this.capacity + this.#highWaterMark;
    if (!this.#needsDrain && pending >= limit) this.#needsDrain = true;
    else if (this.#needsDrain && pending < limit) {
      this.#needsDrain = false;
      this.emit('drain');
    }
  }

  #checkIdle(): void {
    if (this.#queue.size === 0 && this.#running === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}

function moduleUrl(filename: unknown): string {
  if (filename instanceof URL) return filename.href;
  if (typeof filename !== 'string' || filename === '') {
    throw new TypeError(`Expected \`filename\` to be a path or a file URL, got ${show(filename)}`);
  }
  if (filename.startsWith('file:')) return filename;
  return pathToFileURL(isAbsolute(filename) ? filename : resolve(filename)).href;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
