import { normalizeLimits, type RateLimit } from './RateLimit.js';
import { type Rule, ruleFor } from './Rule.js';

/**
 * The rate limits on a queue's starts: each start is one unit of weight
 * against every limit (the same rules as `RateLimiter`). Internal.
 */
export class StartGate {
  readonly #rules: Rule[];
  readonly #states: unknown[];
  /** Tasks still running when a new window opens count against it (fixed windows only). */
  readonly #carryover: boolean;

  constructor(limits: RateLimit | readonly RateLimit[], carryover = false) {
    this.#rules = normalizeLimits(limits).map(ruleFor);
    this.#states = this.#rules.map((rule) => rule.create(0));
    this.#carryover = carryover;
  }

  /** Ms until one more start conforms to every limit (0: now). `running` feeds the carry-over. */
  wait(now: number, running: number): number {
    let wait = 0;
    for (let i = 0; i < this.#rules.length; i++) {
      const rule = this.#rules[i] as Rule;
      const state = this.#states[i];
      // A carried-over window opens at the check, counting what still runs.
      if (this.#carryover && running > 0 && rule.remaining(state, now) === rule.spec.limit) {
        rule.take(state, now, running);
      }
      const w = rule.wait(state, now, 1);
      if (w > wait) wait = w;
    }
    return wait;
  }

  /** Record a start at `now` (it must conform: `wait` said 0). */
  take(now: number): void {
    for (let i = 0; i < this.#rules.length; i++) (this.#rules[i] as Rule).take(this.#states[i], now, 1);
  }

  /** Give back the last start (a task that never ran). */
  untake(): void {
    for (let i = 0; i < this.#rules.length; i++) (this.#rules[i] as Rule).untake(this.#states[i], 1);
  }
}
