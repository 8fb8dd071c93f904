/** The side of the limiter a permit reports to. Internal. */
export interface PermitSink {
  complete(permit: AdaptivePermit, outcome: 'success' | 'drop' | 'ignore'): void;
}

/**
 * Proof of admission to an {@link AdaptiveLimiter}. Report how the call went
 * exactly once: `success()` (also `release()` / `using`), `drop()` (it failed
 * from overload: the limit goes down) or `ignore()` (no signal, e.g. a
 * client error).
 */
export class AdaptivePermit implements Disposable {
  #limiter: PermitSink | undefined;
  /** @internal */
  readonly startedAt: number;
  /** @internal */
  readonly running: number;
  /** @internal */
  readonly partition: string;
  /** @internal */
  readonly probe: boolean;

  /** @internal */
  constructor(limiter: PermitSink, startedAt: number, running: number, partition: string, probe: boolean) {
    this.#limiter = limiter;
    this.startedAt = startedAt;
    this.running = running;
    this.partition = partition;
    this.probe = probe;
  }

  get released(): boolean {
    return this.#limiter === undefined;
  }
  success(): void {
    this.#end('success');
  }
  drop(): void {
    this.#end('drop');
  }
  ignore(): void {
    this.#end('ignore');
  }
  release(): void {
    this.#end('success');
  }
  [Symbol.dispose](): void {
    this.#end('success');
  }
  #end(outcome: 'success' | 'drop' | 'ignore'): void {
    const limiter = this.#limiter;
    if (limiter === undefined) return;
    this.#limiter = undefined;
    limiter.complete(this, outcome);
  }
}
