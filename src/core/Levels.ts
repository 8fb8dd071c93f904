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
 * one), found through a Map, with the priorities in use kept in two binary
 * heaps (highest on top of one, lowest on top of the other), so every
 * operation is O(1) for the common case of one priority and O(log L) for L
 * distinct priorities in any mix. Heap entries are dropped lazily: a priority
 * whose level emptied leaves its heaps when it reaches their top (it is then
 * not in the Map); the heaps are rebuilt when stale entries outnumber the
 * levels. An entry that leaves from the middle (abort, timeout) is marked and
 * left in place: removing from the middle of a ring buffer is O(n), and an
 * abort storm must not be quadratic. Marked entries are dropped when they
 * reach either end, and a compaction pass runs once they outnumber the live
 * ones, so memory stays proportional to the live entries (amortised O(1) per
 * removal).
 */
export class Levels<T extends LevelEntry> {
  /** Live entries. */
  size = 0;
  readonly #levels = new Map<number, Deque<T>>();
  /** Priorities in use, max-heap (may hold priorities whose level is gone). */
  #high: number[] = [];
  /** Priorities in use, min-heap (the same, for `last()`). */
  #low: number[] = [];
  /** What each heap holds (a priority is in each at most once). */
  #inHigh = new Set<number>();
  #inLow = new Set<number>();
  /** The levels on top of each heap, while they are (cleared whenever a level comes or goes). */
  #highest: Deque<T> | undefined = undefined;
  #lowest: Deque<T> | undefined = undefined;
  /** The level of the last push, the hot path of plain FIFO traffic. */
  #recent: Deque<T> | undefined = undefined;
  #recentPriority = 0;
  #dead = 0;

  push(entry: T): void {
    const priority = entry.priority;
    if (this.#recent !== undefined && priority === this.#recentPriority) this.#recent.push(entry);
    else this.#levelFor(priority).push(entry);
    this.size++;
  }

  /** The first live entry (highest priority, oldest), without removing it. */
  first(): T | undefined {
    if (this.size === 0) return undefined;
    for (;;) {
      const level = (this.#highest ??= this.#top(this.#high, this.#inHigh, greater));
      if (level === undefined) return undefined;
      let head = level.peek();
      while (head?.done) {
        level.shift();
        this.#dead--;
        head = level.peek();
      }
      if (head !== undefined) return head;
      this.#drop(this.#high[0] as number);
    }
  }

  /** The newest live entry of the lowest priority, without removing it. */
  last(): T | undefined {
    if (this.size === 0) return undefined;
    for (;;) {
      const level = (this.#lowest ??= this.#top(this.#low, this.#inLow, less));
      if (level === undefined) return undefined;
      let tail = level.peekLast();
      while (tail?.done) {
        level.pop();
        this.#dead--;
        tail = level.peekLast();
      }
      if (tail !== undefined) return tail;
      this.#drop(this.#low[0] as number);
    }
  }

  /** Remove and return the first live entry (marked done). */
  takeFirst(): T | undefined {
    const entry = this.first();
    if (entry === undefined) return undefined;
    (this.#highest as Deque<T>).shift(); // first() left the entry's level on top
    entry.done = true;
    this.size--;
    return entry;
  }

  /** Remove a live entry (marking it done): O(1) at either end of its level, else marked for later. */
  remove(entry: T): void {
    entry.done = true;
    this.size--;
    const level = this.#levelOf(entry.priority);
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
    this.#levels.clear();
    this.#high = [];
    this.#low = [];
    this.#inHigh.clear();
    this.#inLow.clear();
    this.#recent = undefined;
    this.#highest = undefined;
    this.#lowest = undefined;
    this.#dead = 0;
    this.size = 0;
    for (const entry of out) entry.done = true;
    return out;
  }

  /**
   * Move a live entry to a new priority (at the back of that level). The
   * entry itself moves, so it is taken out of its level for real: O(1) at
   * either end, O(level) from the middle (marking it, as `remove` does, would
   * leave the same object in two places once it lives again).
   */
  reprioritize(entry: T, priority: number): void {
    const level = this.#levelOf(entry.priority);
    if (level.peek() === entry) level.shift();
    else if (level.peekLast() === entry) level.pop();
    else level.filterInPlace((other) => other !== entry);
    this.size--;
    entry.priority = priority;
    this.push(entry);
  }

  /** The first live entry of each priority level, highest priority first. */
  *heads(): IterableIterator<T> {
    for (const level of this.#ordered()) {
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
    for (const level of this.#ordered()) {
      for (const entry of level) if (!entry.done) yield entry;
    }
  }

  /** The levels, highest priority first (a sort: for the cold paths only). */
  #ordered(): Deque<T>[] {
    const priorities = [...this.#levels.keys()].sort((a, b) => b - a);
    return priorities.map((p) => this.#levels.get(p) as Deque<T>);
  }

  #compact(): void {
    for (const [priority, level] of this.#levels) {
      level.filterInPlace((entry) => !entry.done);
      if (level.length === 0) this.#forget(priority);
    }
    this.#dead = 0;
    this.#rebuildIfStale();
  }

  /** The level on top of `heap`, after dropping stale priorities from it; `undefined` when none. */
  #top(heap: number[], members: Set<number>, before: (a: number, b: number) => boolean): Deque<T> | undefined {
    while (heap.length > 0) {
      const priority = heap[0] as number;
      const level = this.#levels.get(priority);
      if (level !== undefined) return level;
      members.delete(priority);
      heapPop(heap, before);
    }
    return undefined;
  }

  /** The level of `priority` is empty: forget it and take it off the heap top it is on. */
  #drop(priority: number): void {
    this.#forget(priority);
    if (this.#high[0] === priority) {
      this.#inHigh.delete(priority);
      heapPop(this.#high, greater);
    }
    if (this.#low[0] === priority) {
      this.#inLow.delete(priority);
      heapPop(this.#low, less);
    }
    this.#rebuildIfStale();
  }

  #forget(priority: number): void {
    this.#levels.delete(priority);
    if (this.#recentPriority === priority) this.#recent = undefined;
    this.#highest = undefined;
    this.#lowest = undefined;
  }

  /** Stale heap entries are dropped as they surface; rebuild once they outnumber the levels. */
  #rebuildIfStale(): void {
    const limit = 2 * this.#levels.size + 32;
    if (this.#high.length <= limit && this.#low.length <= limit) return;
    const priorities = [...this.#levels.keys()];
    this.#high = [];
    this.#low = [];
    this.#inHigh = new Set(priorities);
    this.#inLow = new Set(priorities);
    for (const p of priorities) {
      heapPush(this.#high, p, greater);
      heapPush(this.#low, p, less);
    }
  }

  #levelOf(priority: number): Deque<T> {
    if (this.#recent !== undefined && priority === this.#recentPriority) return this.#recent;
    return this.#levels.get(priority) as Deque<T>;
  }

  #levelFor(priority: number): Deque<T> {
    let level = this.#levels.get(priority);
    if (level === undefined) {
      level = new Deque<T>(4);
      this.#levels.set(priority, level);
      this.#highest = undefined;
      this.#lowest = undefined;
      // A priority still in a heap from an earlier level of the same priority is valid again.
      if (!this.#inHigh.has(priority)) {
        this.#inHigh.add(priority);
        heapPush(this.#high, priority, greater);
      }
      if (!this.#inLow.has(priority)) {
        this.#inLow.add(priority);
        heapPush(this.#low, priority, less);
      }
    }
    this.#recent = level;
    this.#recentPriority = priority;
    return level;
  }
}

const greater = (a: number, b: number): boolean => a > b;
const less = (a: number, b: number): boolean => a < b;

function heapPush(heap: number[], value: number, before: (a: number, b: number) => boolean): void {
  let i = heap.length;
  heap.push(value);
  while (i > 0) {
    const parent = (i - 1) >> 1;
    if (!before(value, heap[parent] as number)) break;
    heap[i] = heap[parent] as number;
    i = parent;
  }
  heap[i] = value;
}

function heapPop(heap: number[], before: (a: number, b: number) => boolean): void {
  const last = heap.pop() as number;
  const n = heap.length;
  if (n === 0) return;
  let i = 0;
  for (;;) {
    const left = 2 * i + 1;
    if (left >= n) break;
    const right = left + 1;
    const child = right < n && before(heap[right] as number, heap[left] as number) ? right : left;
    if (!before(heap[child] as number, last)) break;
    heap[i] = heap[child] as number;
    i = child;
  }
  heap[i] = last;
}
