/** The first `max` bytes of a stream's output; the rest is read and counted, not kept. */
export class Capture {
  readonly #max: number;
  readonly #chunks: Buffer[] = [];
  #kept = 0;
  truncated = false;

  constructor(max: number) {
    this.#max = max;
  }

  add(chunk: Buffer): void {
    if (this.#kept >= this.#max) {
      if (chunk.length > 0) this.truncated = true;
      return;
    }
    const room = this.#max - this.#kept;
    if (chunk.length > room) {
      this.truncated = true;
      chunk = chunk.subarray(0, room);
    }
    this.#chunks.push(chunk);
    this.#kept += chunk.length;
  }

  text(): string {
    return this.#chunks.length === 1
      ? (this.#chunks[0] as Buffer).toString('utf8')
      : Buffer.concat(this.#chunks).toString('utf8');
  }
}
