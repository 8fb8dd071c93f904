/**
 * Long file: one class, the pool's queue, its threads and each transition
 * (dispatch, message, exit, cancel, close); the options, the thread and task
 * records, the bootstrap and the histograms live beside it.
 */
import { type TransferListItem, Worker } from 'node:worker_threads';
import type { AdmissionStats, Lifecycle } from '../core/admission.js';
import { Emitter } from '../core/Emitter.js';
import { ClosedError, QueueFullError, TimeoutError } from '../core/errors.js';
import { checkFiniteNumber, checkMs, checkSignal, show } from '../core/validate.js';
import { type Waiter, Waiters } from '../core/Waiters.js';
import { BOOTSTRAP } from './bootstrap.js';
import { WorkerCrashedError } from './errors.js';
import { Histogram, type HistogramSummary } from './Histogram.js';
import {
  type WorkerPoolOptions,
  type WorkerPoolSettings,
  type WorkerRunOptions,
  workerPoolSettings,
} from './options.js';
import { type ExitReason, Task, Thread } from './Thread.js';

export type { WorkerPoolOptions, WorkerRunOptions } from './options.js';
export type { ExitReason } from './Thread.js';

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

/** The pool's events, one payload each. */
export interface WorkerPoolEvents extends Record<string, unknown> {
  /** The pool had `needsDrain` and now has room again. */
  drain: undefined;
  workerCreate: { readonly threadId: number };
  workerExit: { readonly threadId: number; readonly reason: ExitReason };
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
export class WorkerPool extends Emitter<WorkerPoolEvents> implements Lifecycle {
  readonly #o: WorkerPoolSettings;
  readonly #clock: WorkerPoolSettings['clock'];
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
    this.#o = workerPoolSettings(options);
    this.#clock = this.#o.clock;
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
    for (let i = 0; i < this.#o.minThreads; i++) this.#spawn();
  }

  /** The most tasks running at once: threads x tasks per thread. */
  get capacity(): number {
    return this.#o.maxThreads * this.#o.perWorker;
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
    return new Promise((resolve) => this.once('drain', () => resolve()));
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
    if (this.#queue.size >= this.#o.maxWaiting && !this.#hasFreeSlot()) {
      this.#rejected++;
      return Promise.reject(
        new QueueFullError(
          `Worker pool queue is full (${this.#queue.size}/${this.#o.maxWaiting} waiting, ${this.#running} running on ${this.#threads.size} threads)`,
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
    if (this.#staying() < this.#o.maxThreads) return true;
    for (const thread of this.#threads) {
      if (thread.hasRoom(this.#o.perWorker)) return true;
    }
    return false;
  }

  /** Dispatch queued tasks, in order, to free slots (spawning threads up to maxThreads). */
  #pump(): void {
    while (this.#queue.size > 0) {
      const thread = this.#freeThread() ?? (this.#staying() < this.#o.maxThreads ? this.#spawn() : undefined);
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
      if (!thread.hasRoom(this.#o.perWorker)) continue;
      if (best === undefined || thread.running.size < best.running.size) best = thread;
      if (thread.running.size === 0) break;
    }
    return best;
  }

  #spawn(): Thread {
    const worker = new Worker(BOOTSTRAP, { eval: true, ...this.#o.workerOptions });
    const thread = new Thread(worker);
    const shared = this.#o.atomics ? new SharedArrayBuffer(4) : undefined;
    if (shared !== undefined) thread.wake = new Int32Array(shared);
    // The first message configures the bootstrap; tasks follow in order.
    worker.postMessage({ url: this.#o.url, heap: this.#o.maxHeapBytes !== Number.POSITIVE_INFINITY, shared });
    this.#threads.add(thread);
    worker.on('message', (message: { id: number; ok: boolean; result?: unknown; error?: unknown; heap?: number }) =>
      this.#onMessage(thread, message),
    );
    worker.on('error', (error) => this.#onExit(thread, error));
    worker.on('exit', (code) => this.#onExit(thread, code === 0 ? undefined : new Error(`exited with code ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker's port again.
    thread.setReferenced(false);
    this.notify('workerCreate', { threadId: worker.threadId });
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
    thread.clearIdle(this.#clock);
    thread.setReferenced(true);
    const signal = task.signal;
    if (signal !== undefined) {
      // Running now: an abort stops the thread (the only way to stop synchronous JavaScript).
      task.onAbort = () => this.#cancel(task, signal.reason, 'cancelled');
      signal.addEventListener('abort', task.onAbort, { once: true });
    }
    if (task.runTimeout !== Number.POSITIVE_INFINITY) {
      const ms = task.runTimeout;
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
    if (thread.done >= this.#o.maxTasksPerWorker || (message.heap ?? 0) > this.#o.maxHeapBytes) thread.retiring = true;
    this.#afterTask(thread);
  }

  #afterTask(thread: Thread): void {
    if (thread.retiring && thread.running.size === 0 && !thread.exiting) {
      this.#recycled++;
      void this.#stop(thread, 'recycled', undefined);
    }
    this.#pump();
    if (thread.running.size === 0 && !thread.exiting && !thread.idleCheck) {
      // Decide "idle" after the callers have reacted: one awaiting its result
      // usually sends the next task at once, and the thread never goes idle.
      thread.idleCheck = true;
      queueMicrotask(() => {
        thread.idleCheck = false;
        if (thread.running.size === 0 && !thread.exiting) {
          thread.setReferenced(false);
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
  #stop(thread: Thread, reason: ExitReason, error: unknown): Promise<void> {
    if (thread.beginExit(reason)) {
      thread.clearIdle(this.#clock);
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
    thread.clearIdle(this.#clock);
    if (!thread.exiting) {
      this.#crashed++;
      this.#failRunning(
        thread,
        new WorkerCrashedError(`A worker thread died while running the task: ${describe(error)}`, { cause: error }),
      );
    }
    this.notify('workerExit', { threadId: thread.worker.threadId, reason: thread.exitReason });
    if (this.#closing === undefined) {
      while (this.#staying() < this.#o.minThreads) this.#spawn();
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
    if (this.#o.idleTimeout === Number.POSITIVE_INFINITY || thread.idleTimer !== undefined) return;
    thread.idleTimer = this.#clock.setTimeout(
      () => {
        thread.idleTimer = undefined;
        if (thread.running.size === 0 && this.#staying() > this.#o.minThreads && !thread.exiting) {
          void this.#stop(thread, 'idle', undefined);
        }
      },
      this.#o.idleTimeout,
      false,
    );
  }

  /** Threads not on their way out. */
  #staying(): number {
    let n = 0;
    for (const thread of this.#threads) if (!thread.exiting) n++;
    return n;
  }

  #checkDrain(): void {
    const pending = this.#queue.size + this.#running;
    const limit = this.capacity + this.#o.highWaterMark;
    if (!this.#needsDrain && pending >= limit) this.#needsDrain = true;
    else if (this.#needsDrain && pending < limit) {
      this.#needsDrain = false;
      this.notify('drain', undefined);
    }
  }

  #checkIdle(): void {
    if (this.#queue.size === 0 && this.#running === 0 && this.#idleWaiters.length > 0) {
      for (const resolve of this.#idleWaiters.splice(0)) resolve();
    }
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
