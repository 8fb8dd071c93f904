import { Deque } from './Deque.js';

/** What {@link Levels} needs to know about an entry. */
export interface LevelEntry {
  priority: number;
  /** Set when the entry leaves; a marked entry is skipped and dropped lazily. */
  done: boolean;
}

/**
 * An ordered container: FIFO within a priority, higher priority first. The
 * order under the waiter engine (Waiters) and under the queue classes built
 * on it. Internal.
 *
 * Why it looks like this: one ring buffer per distinct priority (usually just
 * one), found by binary search over the few levels in use, keeps push and
 * take O(1) for the common case. An entry that leaves from the middle (abort,
 * timeout) is marked and left in place: removing from the middle of a ring
 * buffer is O(n), and an abort storm must not be quadratic. Marked entries
 * are dropped when they reach either end, and a compaction pass runs once
 * they outnumber the live ones, so memory stays proportional to the live
 * entries (amortised O(1) per removal).
 */
export class Levels<T extends LevelEntry> {
  /** Live entries. */
  size = 0;
  #levels: Deque<T>[] = [];
  /** Sorted descending; `#priorities[i]` is the priority of `#levels[i]`. */
  #priorities: number[] = [];
  #dead = 0;

  push(entry: T): void {
    this.#levelFor(entry.priority).push(entry);
    this.size++;
  }

  /** The first live entry (highest priority, oldest), without removing it. */
  first(): T | undefined {
    if (this.size === 0) return undefined;
    const levels = this.#levels;
    while (levels.length > 0) {
      const level = levels[0] as Deque<T>;
      let head = level.peek();
      while (head?.done) {
        level.shift();
        this.#dead--;
        head = level.peek();
      }
      if (head !== undefined) return head;
      levels.shift();
      this.#priorities.shift();
    }
    return undefined;
  }

  /** The newest live entry of the lowest priority, without removing it. */
  last(): T | undefined {
    if (this.size === 0) return undefined;
    const levels = this.#levels;
    while (levels.length > 0) {
      const level = levels[levels.length - 1] as Deque<T>;
      let tail = level.peekLast();
      while (tail?.done) {
        level.pop();
        this.#dead--;
        tail = level.peekLast();
      }
      if (tail !== undefined) return tail;
      levels.pop();
      this.#priorities.pop();
    }
    return undefined;
  }

  /** Remove and return the first live entry (marked done). */
  takeFirst(): T | undefined {
    const entry = this.first();
    if (entry === undefined) return undefined;
    (this.#levels[0] as Deque<T>).shift();
    entry.done = true;
    this.size--;
    return entry;
  }

  /** Remove a live entry (marking it done): O(1) at either end of its level, else marked for later. */
  remove(entry: T): void {
    entry.done = true;
    this.size--;
    const level = this.#levels[this.#indexOf(entry.priority)] as Deque<T>;
    if (level.peek() === entry) level.shift();
    else if (level.peekLast() === entry) level.pop();
    else {
      this.#dead++;
      if (this.#dead > 32 && this.#dead > this.size) this.#compact();
    }
  }

  /** Remove and return every live entry (marked done), in service order. */
  takeAll(): T[] {
    const out = [...this];
    this.#levels = [];
    this.#priorities = [];
    this.#dead = 0;
    this.size = 0;
    for (const entry of out) entry.done = true;
    return out;
  }

  /** Move a live entry to a new priority (at the back of that level). */
  reprioritize(entry: T, priority: number): void {
    this.remove(entry);
    entry.done = false;
    entry.priority = priority;
    this.push(entry);
  }

  /** The first live entry of each priority level, highest priority first. */
  *heads(): IterableIterator<T> {
    for (const level of this.#levels) {
      for (const entry of level) {
        if (!entry.done) {
          yield entry;
          break;
        }
      }
    }
  }

  /** Live entries in service order. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (const level of this.#levels) {
      for (const entry of level) if (!entry.done) yield entry;
    }
  }

  #compact(): void {
    for (const level of this.#levels) level.filterInPlace((entry) => !entry.done);
    for (let i = this.#levels.length - 1; i >= 0; i--) {
      if ((this.#levels[i] as Deque<T>).length === 0) {
        this.#levels.splice(i, 1);
        this.#priorities.splice(i, 1);
      }
    }
    this.#dead = 0;
  }

  /** Index of the level of `priority`, or where it would go. */
  #indexOf(priority: number): number {
    const priorities = this.#priorities;
    if (priorities[0] === priority) return 0;
    let lo = 0;
    let hi = priorities.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = priorities[mid] as number;
      if (p === priority) return mid;
      if (p > priority) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #levelFor(priority: number): Deque<T> {
    const priorities = this.#priorities;
    // Fast path: the lowest (last) level, where plain FIFO traffic lands.
    const last = priorities.length - 1;
    if (last >= 0 && priorities[last] === priority) return this.#levels[last] as Deque<T>;
    const index = this.#indexOf(priority);
    if (priorities[index] === priority) return this.#levels[index] as Deque<T>;
    const level = new Deque<T>();
    this.#levels.splice(index, 0, level);
    priorities.splice(index, 0, priority);
    return level;
  }
}
