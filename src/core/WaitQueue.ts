import { Deque } from './Deque.js';

/** What the wait queue needs to know about an entry. */
export interface WaitEntry {
  priority: number;
  /** Set by `cancel`; a cancelled entry is skipped and dropped lazily. */
  cancelled: boolean;
}

/**
 * FIFO within a priority, higher priority first. Internal.
 *
 * Why it looks like this: one ring buffer per distinct priority (usually just
 * one), found by binary search over the few levels in use, keeps enqueue and
 * dequeue O(1) for the common case. Cancellation (abort, timeout) marks the entry
 * and leaves it in place: removing from the middle of a ring buffer is O(n), and
 * an abort storm must not be quadratic. Marked entries are dropped when they
 * reach the head, and a compaction pass runs once they outnumber the live ones,
 * so memory stays proportional to the live waiters (amortised O(1) per cancel).
 */
export class WaitQueue<T extends WaitEntry> {
  private levels: Deque<T>[] = [];
  /** Sorted descending; `priorities[i]` is the priority of `levels[i]`. */
  private priorities: number[] = [];
  private dead = 0;
  /** Live (not cancelled) entries. */
  size = 0;

  push(entry: T): void {
    this.levelFor(entry.priority).push(entry);
    this.size++;
  }

  /** The first live entry, without removing it. */
  peek(): T | undefined {
    if (this.size === 0) return undefined;
    while (this.levels.length > 0) {
      const level = this.levels[0] as Deque<T>;
      let head = level.peek();
      while (head?.cancelled) {
        level.shift();
        this.dead--;
        head = level.peek();
      }
      if (head !== undefined) return head;
      this.levels.shift();
      this.priorities.shift();
    }
    return undefined;
  }

  /** Remove the head just returned by `peek()` (no second scan). */
  dropHead(): void {
    (this.levels[0] as Deque<T>).shift();
    this.size--;
  }

  shift(): T | undefined {
    const head = this.peek();
    if (head === undefined) return undefined;
    (this.levels[0] as Deque<T>).shift();
    this.size--;
    return head;
  }

  /** Remove `entry` (which must be queued and live) in amortised O(1). */
  cancel(entry: T): void {
    entry.cancelled = true;
    this.size--;
    this.dead++;
    if (this.dead > 32 && this.dead > this.size) this.compact();
  }

  /** Remove and return every live entry, in service order. */
  drain(): T[] {
    const out = [...this];
    this.levels = [];
    this.priorities = [];
    this.dead = 0;
    this.size = 0;
    return out;
  }

  /** Move a live entry to a new priority (at the back of that level). */
  reprioritize(entry: T, priority: number): void {
    this.cancel(entry);
    entry.cancelled = false;
    entry.priority = priority;
    this.push(entry);
  }

  /** The first live entry of each priority level, highest priority first. */
  *heads(): IterableIterator<T> {
    for (const level of this.levels) {
      for (const entry of level) {
        if (!entry.cancelled) {
          yield entry;
          break;
        }
      }
    }
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (const level of this.levels) {
      for (const entry of level) if (!entry.cancelled) yield entry;
    }
  }

  private compact(): void {
    for (const level of this.levels) level.filterInPlace((entry) => !entry.cancelled);
    for (let i = this.levels.length - 1; i >= 0; i--) {
      if ((this.levels[i] as Deque<T>).length === 0) {
        this.levels.splice(i, 1);
        this.priorities.splice(i, 1);
      }
    }
    this.dead = 0;
  }

  private levelFor(priority: number): Deque<T> {
    const { priorities } = this;
    // Fast path: the lowest (last) level, where plain FIFO traffic lands.
    const last = priorities.length - 1;
    if (last >= 0 && priorities[last] === priority) return this.levels[last] as Deque<T>;
    let lo = 0;
    let hi = priorities.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const p = priorities[mid] as number;
      if (p === priority) return this.levels[mid] as Deque<T>;
      if (p > priority) lo = mid + 1;
      else hi = mid;
    }
    const level = new Deque<T>();
    this.levels.splice(lo, 0, level);
    priorities.splice(lo, 0, priority);
    return level;
  }
}
