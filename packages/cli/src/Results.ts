// Result lines on stdout (or --output), in completion order or, with
// --keep-order, in input order; `written` runs once the line is handed to the
// operating system, which is when the item may be journaled.
import { once } from 'node:events';
import { closeSync, createWriteStream, openSync, writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/** Called once the line is with the operating system (`ok`), or could not be written. */
type Written = (ok: boolean) => void;

interface Held {
  readonly text: string | undefined;
  readonly written: Written;
}

export class Results {
  readonly #out: Writable | FileSink;
  readonly #keepOrder: boolean;
  readonly #onError: (error: Error) => void;
  readonly #held = new Map<number, Held>();
  #next = 0;

  #broken: Error | undefined;
  /** Lines handed to the stream whose callback has not come yet. */
  #pending = 0;
  #flushed: (() => void) | undefined;

  /** `onError`: the output failed (a closed pipe, a full disk); nothing more is written. */
  constructor(out: Writable | FileSink, keepOrder: boolean, onError: (error: Error) => void) {
    this.#out = out;
    this.#keepOrder = keepOrder;
    this.#onError = onError;
    if (!(out instanceof FileSink)) out.on('error', (error: Error) => this.#break(error));
  }

  #break(error: Error): void {
    if (this.#broken !== undefined) return;
    this.#broken = error;
    this.#onError(error);
  }

  /** Write the result of the item at input position `seq` (`text` undefined: nothing to write, keep the order going). */
  put(seq: number, text: string | undefined, written: Written): void {
    if (!this.#keepOrder) {
      this.#write(text, written);
      return;
    }
    if (seq !== this.#next) {
      this.#held.set(seq, { text, written });
      return;
    }
    this.#write(text, written);
    this.#next++;
    for (let held = this.#held.get(this.#next); held !== undefined; held = this.#held.get(this.#next)) {
      this.#held.delete(this.#next);
      this.#write(held.text, held.written);
      this.#next++;
    }
  }

  /** Results waiting for an earlier one (--keep-order). */
  get held(): number {
    return this.#held.size;
  }

  #write(text: string | undefined, written: Written): void {
    if (text === undefined) written(true);
    else if (this.#broken !== undefined) written(false);
    else {
      this.#pending++;
      this.#out.write(text, (error) => {
        if (error != null) this.#break(error);
        written(error == null);
        if (--this.#pending === 0) this.#flushed?.();
      });
    }
  }

  /** Wait until every line is written (and its `written` ran); end the stream if it is a file of ours. */
  async close(): Promise<void> {
    if (this.#pending > 0 && this.#broken === undefined)
      await new Promise<void>((resolve) => (this.#flushed = resolve));
    const out = this.#out;
    if (out instanceof FileSink) out.close();
    else if (this.#broken === undefined && out.writableNeedDrain) await once(out, 'drain');
  }
}

/**
 * A results file written with one `write(2)` per tick (no thread-pool hop, as
 * a stream's writes take): a line is with the operating system by the time
 * its item is journaled, and a crash loses only the items of that last tick.
 */
export class FileSink {
  readonly #fd: number;
  // Lines of this tick, joined once at the flush (a growing string would be a rope to flatten).
  #lines: string[] = [];
  #callbacks: ((error?: Error | null) => void)[] = [];
  #scheduled = false;

  constructor(path: string, append: boolean) {
    this.#fd = openSync(path, append ? 'a' : 'w');
  }

  write(text: string, callback: (error?: Error | null) => void): boolean {
    this.#lines.push(text);
    this.#callbacks.push(callback);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return true;
  }

  #flush(): void {
    this.#scheduled = false;
    const callbacks = this.#callbacks;
    let error: Error | null = null;
    try {
      writeSync(this.#fd, this.#lines.join(''));
    } catch (e) {
      error = e as Error;
    }
    this.#lines = [];
    this.#callbacks = [];
    for (const callback of callbacks) callback(error);
  }

  close(): void {
    if (this.#lines.length > 0) this.#flush();
    closeSync(this.#fd);
  }
}

/** The failures file: one JSON line per failed item or unreadable input line; opened at the first one. */
export class Failures {
  readonly path: string;
  readonly #append: boolean;
  #out: Writable | undefined;
  count = 0;

  constructor(path: string, append: boolean) {
    this.path = path;
    this.#append = append;
  }

  write(record: object): void {
    this.writeLine(JSON.stringify(record));
  }

  /** One record already in JSON (no newline). */
  writeLine(json: string): void {
    this.#out ??= createWriteStream(this.path, { flags: this.#append ? 'a' : 'w' });
    this.count++;
    this.#out.write(`${json}\n`);
  }

  async close(): Promise<void> {
    if (this.#out === undefined) return;
    this.#out.end();
    await once(this.#out, 'finish');
  }
}
