/**
 * Drop-in for p-queue 9: `import PQueue from 'sluice/compat/p-queue'`.
 *
 * Options, methods, properties and events of p-queue 9 (checked by
 * test/compat-p-queue.test.ts). Differences that cannot matter to a correct
 * program: `concurrency` and `intervalCap` must be integers (or Infinity), and
 * the queue is sluice's ring-buffer priority queue unless `queueClass` is given.
 * `clear()` drops waiting tasks without settling them, as p-queue does, and
 * every invalid argument throws a `TypeError`, as in p-queue.
 *
 * Deliberately more precise than p-queue 9 (a correct program cannot tell
 * the difference, except that it is told sooner or more accurately):
 * - `empty` / `onEmpty()` fire as soon as the last waiting task starts; p-queue 9
 *   fires them at the next task completion after that.
 * - A timeout's message reports the queue when the timeout fires, not when the task started.
 * - The deprecated `carryoverConcurrencyCount` works; p-queue 9's defaults shadow it.
 */
import { TimeoutError } from '../core/errors.js';
import { type Queue, type RunFunction, PriorityQueue as SluicePriorityQueue } from '../core/PriorityQueue.js';
import {
  type RunningTask as CoreRunningTask,
  type TaskContext,
  type TaskOptions,
  TaskQueue,
  type TaskQueueOptions,
} from '../core/TaskQueue.js';

export type Options = Omit<TaskQueueOptions, 'maxWaiting' | 'overflow' | 'rejectOnClear' | 'clock' | 'runTimeout'> & {
  /** Per-task run timeout in ms, from the task's start (not its wait). */
  readonly timeout?: number;
  /** @deprecated Renamed to `carryoverIntervalCount`. */
  readonly carryoverConcurrencyCount?: boolean;
};
/** p-queue's `add` options: `timeout` is the run time. */
export interface QueueAddOptions extends Omit<TaskOptions, 'timeout' | 'runTimeout'> {
  readonly timeout?: number;
}

/** A running task as p-queue reports it (`timeout`), with sluice's fields beside. */
export interface RunningTask extends CoreRunningTask {
  readonly timeout: number | undefined;
  readonly timeoutRemaining: number | undefined;
}
export type { Queue, RunFunction };

/** p-queue reports every bad argument as a TypeError; sluice uses RangeError for bad values. */
function asTypeError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof RangeError) throw new TypeError(error.message);
    throw error;
  }
}

export default class PQueue extends TaskQueue {
  constructor(options: Options = {}) {
    const { carryoverConcurrencyCount, timeout, ...rest } = options;
    const settings: TaskQueueOptions = {
      ...rest,
      runTimeout: timeout,
      carryoverIntervalCount: rest.carryoverIntervalCount ?? carryoverConcurrencyCount ?? false,
      rejectOnClear: false,
    };
    try {
      super(settings);
    } catch (error) {
      // p-queue's error type for a bad value; nothing was constructed.
      if (error instanceof RangeError) throw new TypeError(error.message);
      throw error;
    }
  }

  /** Default run timeout (ms) for tasks added from now on, or undefined. */
  get timeout(): number | undefined {
    return this.runTimeout;
  }
  set timeout(value: number | undefined) {
    asTypeError(() => {
      this.runTimeout = value;
    });
  }
  /** Tasks waiting to start. */
  get size(): number {
    return this.waiting;
  }
  /** Tasks running. */
  get pending(): number {
    return this.running;
  }
  /** The running tasks, in p-queue's shape. */
  override get runningTasks(): RunningTask[] {
    return super.runningTasks.map((task) => ({
      ...task,
      timeout: task.runTimeout,
      timeoutRemaining: task.runTimeoutRemaining,
    }));
  }

  override get concurrency(): number {
    return super.concurrency;
  }
  override set concurrency(value: number) {
    asTypeError(() => {
      super.concurrency = value;
    });
  }

  /** As p-queue: invalid per-task options reject instead of throwing. */
  override add<R>(fn: (context: TaskContext) => R | PromiseLike<R>, options?: QueueAddOptions): Promise<Awaited<R>> {
    try {
      const settings: TaskOptions | undefined =
        options?.timeout === undefined
          ? (options as TaskOptions | undefined)
          : { priority: options.priority, id: options.id, signal: options.signal, runTimeout: options.timeout };
      return asTypeError(() => super.add(fn, settings));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  override setPriority(id: string, priority: number): void {
    asTypeError(() => super.setPriority(id, priority));
  }
}

export { SluicePriorityQueue as PriorityQueue, TimeoutError };
