/**
 * Drop-in for p-queue 9: `import PQueue from 'sluice/compat/p-queue'`.
 *
 * Options, methods, properties and events of p-queue 9 (checked by
 * test/compat-p-queue.test.ts). Differences that cannot matter to a correct
 * program: `concurrency` and `intervalCap` must be integers (or Infinity), and
 * the queue is sluice's ring-buffer priority queue unless `queueClass` is given.
 * `clear()` drops waiting tasks without settling them, as p-queue does.
 */
import { TimeoutError } from '../core/errors.js';
import { type Queue, type RunFunction, PriorityQueue as SluicePriorityQueue } from '../core/PriorityQueue.js';
import { type TaskContext, type TaskOptions, TaskQueue, type TaskQueueOptions } from '../core/TaskQueue.js';

export type Options = Omit<TaskQueueOptions, 'maxSize' | 'overflow' | 'rejectOnClear' | 'clock'> & {
  /** @deprecated Renamed to `carryoverIntervalCount`. */
  readonly carryoverConcurrencyCount?: boolean;
};
export type QueueAddOptions = TaskOptions;
export type { Queue, RunFunction };

export default class PQueue extends TaskQueue {
  constructor(options: Options = {}) {
    const { carryoverConcurrencyCount, ...rest } = options;
    super({
      ...rest,
      carryoverIntervalCount: rest.carryoverIntervalCount ?? carryoverConcurrencyCount ?? false,
      rejectOnClear: false,
    });
  }

  /** As p-queue: invalid per-task options reject instead of throwing. */
  override add<R>(fn: (context: TaskContext) => R | PromiseLike<R>, options?: TaskOptions): Promise<Awaited<R>> {
    try {
      return super.add(fn, options);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

export { SluicePriorityQueue as PriorityQueue, TimeoutError };
