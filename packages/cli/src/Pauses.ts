// Pauses asked for by the service (429/503 with Retry-After): everything sent
// to the paused scope (one key under --per-key, else the whole run) waits.
import { sleep } from './Limits.js';

const RUN = '\u0000run';

/** The reason `Pauses.begun` aborts with. */
export class PauseBegun extends Error {
  override readonly name = 'PauseBegun';
}

export class Pauses {
  readonly #until = new Map<string, number>();
  readonly #share: ((scope: string | undefined, ms: number) => void) | undefined;
  /** Pauses begun, for the summary. */
  count = 0;
  #begun = new AbortController();

  /** `share` hands each local pause to the other runners of the job (Redis). */
  constructor(share?: (scope: string | undefined, ms: number) => void) {
    this.#share = share;
  }

  /** Pause `scope` (undefined: the run) for `ms` from now. Later pauses never shorten one. */
  pause(scope: string | undefined, ms: number, fromPeer = false): void {
    const until = Date.now() + ms;
    const name = scope ?? RUN;
    if ((this.#until.get(name) ?? 0) >= until) return;
    this.#until.set(name, until);
    this.count++;
    const begun = this.#begun;
    this.#begun = new AbortController();
    begun.abort(new PauseBegun(`${scope ?? 'the run'} paused for ${Math.ceil(ms)} ms`));
    if (!fromPeer) this.#share?.(scope, ms);
  }

  /**
   * Aborts when the next pause begins (of any scope): a wait for a shared
   * rate that listens to it does not spend a grant it could not use.
   */
  get begun(): AbortSignal {
    return this.#begun.signal;
  }

  /** Ms until `scope` may send again (0: now). */
  remaining(scope: string | undefined): number {
    if (this.#until.size === 0) return 0;
    const now = Date.now();
    let until = this.#until.get(RUN) ?? 0;
    if (scope !== undefined) until = Math.max(until, this.#until.get(scope) ?? 0);
    if (until <= now) {
      if (this.#until.size > 1000 || (scope === undefined && this.#until.size === 1)) this.#forgetPast(now);
      return 0;
    }
    return until - now;
  }

  /** Wait while `scope` is paused. */
  async wait(scope: string | undefined, signal: AbortSignal): Promise<void> {
    for (let ms = this.remaining(scope); ms > 0; ms = this.remaining(scope)) await sleep(ms, signal);
  }

  #forgetPast(now: number): void {
    for (const [name, until] of this.#until) if (until <= now) this.#until.delete(name);
  }
}
