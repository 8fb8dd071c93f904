/**
 * A growable ring buffer: O(1) push, shift and pop, no per-item node
 * allocation, and no `Array#shift` (O(n) once V8 leaves its fast path).
 * Every queue in sluice sits on one of these. Internal: not exported.
 */
export class Deque<T> {
  private buffer: (T | undefined)[];
  private head = 0;
  private mask: number;
  length = 0;

  constructor(initialCapacity = 16) {
    let capacity = 4;
    while (capacity < initialCapacity) capacity <<= 1;
    this.buffer = new Array(capacity);
    this.mask = capacity - 1;
  }

  push(value: T): void {
    if (this.length === this.buffer.length) this.grow();
    this.buffer[(this.head + this.length) & this.mask] = value;
    this.length++;
  }

  shift(): T | undefined {
    if (this.length === 0) return undefined;
    const value = this.buffer[this.head];
    this.buffer[this.head] = undefined; // let the value be collected
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return value;
  }

  pop(): T | undefined {
    if (this.length === 0) return undefined;
    const index = (this.head + this.length - 1) & this.mask;
    const value = this.buffer[index];
    this.buffer[index] = undefined;
    this.length--;
    return value;
  }

  peek(): T | undefined {
    return this.length === 0 ? undefined : this.buffer[this.head];
  }

  /** The item at `index` from the front (0: the oldest), or undefined. */
  at(index: number): T | undefined {
    return index < 0 || index >= this.length ? undefined : this.buffer[(this.head + index) & this.mask];
  }

  peekLast(): T | undefined {
    return this.length === 0 ? undefined : this.buffer[(this.head + this.length - 1) & this.mask];
  }

  clear(): void {
    this.buffer = new Array(16);
    this.mask = 15;
    this.head = 0;
    this.length = 0;
  }

  /** Keep only the items for which `keep` is true, in order. O(n). */
  filterInPlace(keep: (value: T) => boolean): void {
    let write = 0;
    for (let read = 0; read < this.length; read++) {
      const value = this.buffer[(this.head + read) & this.mask] as T;
      if (keep(value)) {
        this.buffer[(this.head + write) & this.mask] = value;
        write++;
      }
    }
    for (let i = write; i < this.length; i++) this.buffer[(this.head + i) & this.mask] = undefined;
    this.length = write;
  }

  *[Symbol.iterator](): IterableIterator<T> {
    for (let i = 0; i < this.length; i++) yield this.buffer[(this.head + i) & this.mask] as T;
  }

  private grow(): void {
    const old = this.buffer;
    const size = old.length;
    const next = new Array<T | undefined>(size * 2);
    for (let i = 0; i < this.length; i++) next[i] = old[(this.head + i) & this.mask];
    this.buffer = next;
    this.head = 0;
    this.mask = size * 2 - 1;
  }
}
