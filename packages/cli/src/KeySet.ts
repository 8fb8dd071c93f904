// The journal's keys in memory. A default key (16 base64url characters, 96
// bits of a SHA-1) is kept as four 24-bit numbers in an open-addressing table
// of typed arrays: no string per key, and a lookup that reads 16 characters
// instead of hashing and comparing strings (a resume over 1,000,000 items
// spends most of its time here). Any other key lives in a plain Set.

const DIGITS = new Int8Array(128).fill(-1);
for (const [i, c] of [...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'].entries()) {
  DIGITS[c.charCodeAt(0)] = i;
}

const EMPTY = 0;
const FULL = 1;
const GONE = 2;

export class KeySet {
  readonly #strings = new Set<string>();
  #words = new Int32Array(4 * 1024);
  #states = new Uint8Array(1024);
  #used = 0; // full + gone slots
  #count = 0;
  readonly #parsed = new Int32Array(4);

  get size(): number {
    return this.#count + this.#strings.size;
  }

  has(key: string): boolean {
    return this.#parse(key) ? this.#find(this.#parsed) >= 0 : this.#strings.has(key);
  }

  /** `has(text.slice(from, from + 16))` without the slice, for a default key inside a longer string. */
  hasDefault(text: string, from: number): boolean {
    return this.#parseAt(text, from) ? this.#find(this.#parsed) >= 0 : this.#strings.has(text.slice(from, from + 16));
  }

  /** Make room for `n` default keys at once (a journal's size tells how many to expect). */
  reserve(n: number): void {
    let size = this.#states.length;
    while (size < n * 2) size *= 2;
    if (size > this.#states.length) this.#grow(size);
  }

  add(key: string): void {
    if (!this.#parse(key)) {
      this.#strings.add(key);
      return;
    }
    this.#addParsed();
  }

  /** `add(text.slice(from, to))` without the slice when it is a default key. */
  addRange(text: string, from: number, to: number): void {
    if (to - from === 16 && this.#parseAt(text, from)) this.#addParsed();
    else this.add(text.slice(from, to));
  }

  #addParsed(): void {
    if (this.#find(this.#parsed) >= 0) return;
    if ((this.#used + 1) * 2 > this.#states.length) {
      this.#grow(this.#count * 4 > this.#states.length ? this.#states.length * 2 : this.#states.length);
    }
    this.#insert(this.#parsed);
  }

  delete(key: string): void {
    if (!this.#parse(key)) {
      this.#strings.delete(key);
      return;
    }
    const slot = this.#find(this.#parsed);
    if (slot < 0) return;
    this.#states[slot] = GONE;
    this.#count--;
  }

  /** Read a default key into #parsed: four 24-bit groups. False when it is not one. */
  #parse(key: string): boolean {
    return key.length === 16 && this.#parseAt(key, 0);
  }

  #parseAt(text: string, from: number): boolean {
    const out = this.#parsed;
    for (let group = 0; group < 4; group++) {
      let value = 0;
      for (let i = from + group * 4; i < from + group * 4 + 4; i++) {
        const code = text.charCodeAt(i);
        const digit = code < 128 ? (DIGITS[code] as number) : -1;
        if (digit < 0) return false;
        value = (value << 6) | digit;
      }
      out[group] = value;
    }
    return true;
  }

  #slotOf(words: Int32Array, mask: number): number {
    // The groups are already uniform (they are hash output); mix two of them for the slot.
    return ((words[0] as number) ^ Math.imul(words[1] as number, 0x9e3779b1)) & mask;
  }

  #find(words: Int32Array): number {
    const mask = this.#states.length - 1;
    for (let slot = this.#slotOf(words, mask); ; slot = (slot + 1) & mask) {
      const state = this.#states[slot];
      if (state === EMPTY) return -1;
      if (state === FULL) {
        const at = slot * 4;
        const table = this.#words;
        if (
          table[at] === words[0] &&
          table[at + 1] === words[1] &&
          table[at + 2] === words[2] &&
          table[at + 3] === words[3]
        ) {
          return slot;
        }
      }
    }
  }

  #insert(words: Int32Array): void {
    const mask = this.#states.length - 1;
    let slot = this.#slotOf(words, mask);
    while (this.#states[slot] === FULL) slot = (slot + 1) & mask;
    if (this.#states[slot] === EMPTY) this.#used++;
    this.#states[slot] = FULL;
    this.#words.set(words, slot * 4);
    this.#count++;
  }

  /** Rehash into `size` slots (also clears the slots of deleted keys). */
  #grow(size: number): void {
    const words = this.#words;
    const states = this.#states;
    this.#words = new Int32Array(size * 4);
    this.#states = new Uint8Array(size);
    this.#used = 0;
    this.#count = 0;
    for (let slot = 0; slot < states.length; slot++) {
      if (states[slot] === FULL) this.#insert(words.subarray(slot * 4, slot * 4 + 4));
    }
  }
}
