// The journal: an append-only file of item keys that ended, written after the
// item's result line, so that a crash can only make an item run twice, never
// zero times. One header line per run names the action's fingerprint; then
// `+key` (done) or `-key` (failed for good), the key raw or as a JSON string.
import {
  closeSync,
  createReadStream,
  existsSync,
  fdatasyncSync,
  fstatSync,
  ftruncateSync,
  openSync,
  readSync,
  statSync,
  writeSync,
} from 'node:fs';
import { KeySet } from './KeySet.js';
import { quoted, UsageError } from './UsageError.js';

export type JournalMode = 'new' | 'resume' | 'retry-failed' | 'fresh';

export interface JournalOptions {
  readonly mode: JournalMode;
  readonly fingerprint: string;
  /** Resume although the action's templates changed since the journal was written. */
  readonly allowChanged: boolean;
  /** Ms between fsyncs while entries are being written. @default 1000 */
  readonly syncInterval?: number;
}

const PLUS = 43;
const MINUS = 45;
const QUOTE = 34;
const BRACE = 123;

/** Whether a key can be written as it is: no quote, backslash or control character. */
function isPlain(key: string): boolean {
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || c === 127) return false;
  }
  return key[0] !== '"';
}

export class Journal {
  readonly path: string;
  readonly #fd: number;
  readonly #done: KeySet;
  readonly #failed: KeySet;
  readonly #skipFailed: boolean;
  readonly #syncInterval: number;
  #buffer = '';
  #scheduled = false;
  #unsynced = false;
  #syncTimer: NodeJS.Timeout | undefined;
  #closed = false;

  private constructor(path: string, fd: number, done: KeySet, failed: KeySet, options: JournalOptions) {
    this.path = path;
    this.#fd = fd;
    this.#done = done;
    this.#failed = failed;
    this.#skipFailed = options.mode === 'resume';
    this.#syncInterval = options.syncInterval ?? 1000;
  }

  /** Open (or create) the journal at `path` for a run in `options.mode`. */
  static async open(path: string, options: JournalOptions): Promise<Journal> {
    const done = new KeySet();
    const failed = new KeySet();
    let fingerprint: string | undefined;
    const exists = existsSync(path) && statSync(path).size > 0;
    if (exists && options.mode !== 'fresh') {
      done.reserve(statSync(path).size / 18);
      fingerprint = await readJournal(path, done, failed);
      const entries = done.size + failed.size;
      if (options.mode === 'new' && entries > 0) {
        throw new UsageError(
          `the journal ${path} holds ${entries} items of an earlier run: pass --resume to skip them, --retry-failed to rerun the failed ones, or --fresh to start over`,
        );
      }
      if (
        options.mode !== 'new' &&
        fingerprint !== undefined &&
        fingerprint !== options.fingerprint &&
        !options.allowChanged
      ) {
        throw new UsageError(
          `the journal ${path} was written for another command or request (fingerprint ${fingerprint}, now ${options.fingerprint}): its items would not be rerun; pass --allow-changed to resume anyway, or --fresh to start over`,
        );
      }
    }
    const fd = openSync(path, options.mode === 'fresh' || !exists ? 'w' : 'a+');
    dropTornTail(fd);
    const journal = new Journal(path, fd, done, failed, options);
    writeSync(
      fd,
      `${JSON.stringify({ sluice: 1, fingerprint: options.fingerprint, started: new Date().toISOString() })}\n`,
      null,
    );
    return journal;
  }

  /** Items the journal already holds: done, and failed for good. */
  get done(): number {
    return this.#done.size;
  }
  get failed(): number {
    return this.#failed.size;
  }

  /** Whether an item of this key ended in an earlier run and is to be skipped. */
  skips(key: string): boolean {
    return this.#done.has(key) || (this.#skipFailed && this.#failed.has(key));
  }

  /** `skips(digest.slice(0, 16))` without the slice: a default key read from its SHA-1 digest. */
  skipsDigest(digest: string): boolean {
    return this.#done.hasDefault(digest, 0) || (this.#skipFailed && this.#failed.hasDefault(digest, 0));
  }

  /**
   * Record an item that ended. Written in a microtask, i.e. right after the
   * results written in the same callback (a crash between the two is the
   * only way an item runs twice); fsync'd within `syncInterval`.
   */
  record(key: string, ok: boolean): void {
    if (this.#closed) return;
    this.#buffer += `${ok ? '+' : '-'}${isPlain(key) ? key : JSON.stringify(key)}\n`;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(() => this.#write());
    }
  }

  #write(): void {
    this.#scheduled = false;
    if (this.#buffer === '') return;
    writeSync(this.#fd, this.#buffer, null);
    this.#buffer = '';
    this.#unsynced = true;
    if (this.#syncTimer === undefined) {
      this.#syncTimer = setTimeout(() => this.#sync(), this.#syncInterval);
      this.#syncTimer.unref();
    }
  }

  #sync(): void {
    this.#syncTimer = undefined;
    if (!this.#unsynced || this.#closed) return;
    this.#unsynced = false;
    fdatasyncSync(this.#fd);
  }

  /** Write and fsync what is buffered, then close the file. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#write();
    clearTimeout(this.#syncTimer);
    fdatasyncSync(this.#fd);
    this.#closed = true;
    closeSync(this.#fd);
  }
}

/** Fill `done` and `failed` from the journal; the last header's fingerprint. */
async function readJournal(path: string, done: KeySet, failed: KeySet): Promise<string | undefined> {
  let fingerprint: string | undefined;
  let rest = '';
  let lineNumber = 0;
  // One slice per entry (the key), straight from the chunk: this loop is most of a resume's start.
  const take = (text: string, start: number, end: number) => {
    lineNumber++;
    const mark = text.charCodeAt(start);
    if (mark === PLUS || mark === MINUS) {
      const key =
        text.charCodeAt(start + 1) === QUOTE
          ? (JSON.parse(text.slice(start + 1, end)) as string)
          : text.slice(start + 1, end);
      if (mark === PLUS) {
        done.add(key);
        if (failed.size > 0) failed.delete(key);
      } else if (!done.has(key)) failed.add(key);
    } else if (mark === BRACE) {
      fingerprint = (JSON.parse(text.slice(start, end)) as { fingerprint?: string }).fingerprint;
    } else if (end > start) {
      throw new UsageError(
        `${path} is not a sluice journal (line ${lineNumber}: ${quoted(text.slice(start, Math.min(end, start + 40)))})`,
      );
    }
  };
  for await (const chunk of createReadStream(path, { encoding: 'utf8', highWaterMark: 1024 * 1024 })) {
    const text = rest + (chunk as string);
    let start = 0;
    for (let end = text.indexOf('\n'); end !== -1; end = text.indexOf('\n', start)) {
      take(text, start, end);
      start = end + 1;
    }
    rest = text.slice(start);
  }
  // A last line without its newline was torn by a crash: its item runs again.
  return fingerprint;
}

/** Cut a torn last line (a crash mid-write); the file is opened for appending. */
function dropTornTail(fd: number): void {
  let size = fstatSync(fd).size;
  if (size === 0) return;
  const byte = Buffer.alloc(1);
  while (size > 0) {
    readSync(fd, byte, 0, 1, size - 1);
    if (byte[0] === 10) break;
    size--;
  }
  ftruncateSync(fd, size);
}
