import { type LevelEntry, Levels } from '../core/Levels.js';

/** A queued task as the queue sees it: a function that starts it. */
export type RunFunction = () => void;

/** p-queue's `add` options (`timeout` is the run time); a queue receives them with each task. */
export interface QueueAddOptions {
  readonly priority?: number;
  readonly id?: string;
  readonly signal?: AbortSignal | undefined;
  readonly timeout?: number;
}

/** p-queue's `queueClass` interface, for callers who bring their own ordering. */
export interface Queue<Element, Options> {
  size: number;
  filter(options: Readonly<Partial<Options>>): Element[];
  dequeue(): Element | undefined;
  enqueue(run: Element, options?: Partial<Options>): void;
  setPriority?(id: string, priority: number): void;
  remove?(idOrRun: string | Element): void;
}

class Entry implements LevelEntry {
  done = false;
  constructor(
    readonly run: RunFunction,
    public priority: number,
    readonly id: string | undefined,
  ) {}
}

/**
 * p-queue's default queue class, on sluice's ordered container: higher
 * priority first, FIFO among equals, O(1) enqueue/dequeue for the common
 * single-priority case, O(1) removal by run function and by id.
 */
export class PriorityQueue implements Queue<RunFunction, QueueAddOptions> {
  #queue = new Levels<Entry>();
  #byRun = new Map<RunFunction, Entry>();
  #byId = new Map<string, Entry>();

  get size(): number {
    return this.#queue.size;
  }

  enqueue(run: RunFunction, options?: Partial<QueueAddOptions> & { readonly signal?: unknown }): void {
    const entry = new Entry(run, options?.priority ?? 0, options?.id);
    this.#queue.push(entry);
    // Only a task that can be aborted while queued needs finding by its function.
    if (options?.signal !== undefined) this.#byRun.set(run, entry);
    if (entry.id !== undefined) this.#byId.set(entry.id, entry);
  }

  dequeue(): RunFunction | undefined {
    const entry = this.#queue.takeFirst();
    if (entry === undefined) return undefined;
    this.#forget(entry);
    return entry.run;
  }

  /**
   * Remove a queued task by id or run function. No-op when absent. O(1) for
   * tasks enqueued with a signal or an id, O(n) otherwise.
   */
  remove(idOrRun: string | RunFunction): void {
    let entry = typeof idOrRun === 'string' ? this.#byId.get(idOrRun) : this.#byRun.get(idOrRun);
    if (entry === undefined && typeof idOrRun !== 'string') {
      for (const candidate of this.#queue) {
        if (candidate.run === idOrRun) {
          entry = candidate;
          break;
        }
      }
    }
    if (entry === undefined || entry.done) return;
    this.#queue.remove(entry);
    this.#forget(entry);
  }

  /** Move a queued task to a new priority (behind the tasks already at that priority). */
  setPriority(id: string, priority: number): void {
    const entry = this.#byId.get(id);
    if (entry === undefined) {
      throw new ReferenceError(`No promise function with the id "${id}" exists in the queue.`);
    }
    this.#queue.reprioritize(entry, priority);
  }

  filter(options: Readonly<Partial<QueueAddOptions>>): RunFunction[] {
    const out: RunFunction[] = [];
    for (const entry of this.#queue) {
      if (options.priority === undefined || entry.priority === options.priority) out.push(entry.run);
    }
    return out;
  }

  #forget(entry: Entry): void {
    this.#byRun.delete(entry.run);
    if (entry.id !== undefined && this.#byId.get(entry.id) === entry) this.#byId.delete(entry.id);
  }
}
