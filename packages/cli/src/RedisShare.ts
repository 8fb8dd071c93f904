// Limits shared by every runner of a job through one Redis: the rates and the
// concurrency are the library's Redis parts (Lua on the server's clock); a
// pause (Retry-After) is published to the other runners and kept as a key
// with that expiry for runners that join later.
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { RedisRateLimiter, RedisSemaphore } from 'sluice/redis';
import type { SharedLimits } from './Limits.js';
import { quoted, UsageError } from './UsageError.js';
import { type Rate, slidingWindows } from './units.js';

export interface ShareOptions {
  readonly url: string;
  readonly job: string;
  /** Shared concurrency; undefined under `--concurrency auto` (each runner adapts on its own). */
  readonly concurrency: number | undefined;
  readonly rates: readonly Rate[];
  readonly keyRates: readonly Rate[];
}

export class RedisShare implements SharedLimits {
  readonly hasRate: boolean;
  readonly hasKeyRate: boolean;
  readonly hasSlots: boolean;
  readonly #client: Redis;
  readonly #subscriber: Redis;
  readonly #prefix: string;
  readonly #id = randomUUID();
  readonly #rate: RedisRateLimiter | undefined;
  readonly #keyRate: RedisRateLimiter | undefined;
  readonly #slots: RedisSemaphore | undefined;
  #onPause: ((scope: string | undefined, ms: number) => void) | undefined;

  private constructor(client: Redis, subscriber: Redis, options: ShareOptions) {
    this.#client = client;
    this.#subscriber = subscriber;
    this.#prefix = `sluice:job:${options.job}`;
    this.#rate =
      options.rates.length === 0
        ? undefined
        : new RedisRateLimiter({ client, name: `${options.job}:rate`, limits: slidingWindows(options.rates) });
    this.#keyRate =
      options.keyRates.length === 0
        ? undefined
        : new RedisRateLimiter({ client, name: `${options.job}:key-rate`, limits: slidingWindows(options.keyRates) });
    this.#slots =
      options.concurrency === undefined
        ? undefined
        : new RedisSemaphore({ client, name: `${options.job}:running`, permits: options.concurrency });
    this.hasRate = this.#rate !== undefined;
    this.hasKeyRate = this.#keyRate !== undefined;
    this.hasSlots = this.#slots !== undefined;
  }

  static async connect(options: ShareOptions): Promise<RedisShare> {
    const client = new Redis(options.url, { lazyConnect: true, maxRetriesPerRequest: 3, connectTimeout: 5000 });
    const subscriber = client.duplicate();
    try {
      await client.connect();
      await subscriber.connect();
    } catch (error) {
      client.disconnect();
      subscriber.disconnect();
      throw new UsageError(`--redis ${quoted(options.url)}: cannot connect (${(error as Error).message})`);
    }
    return new RedisShare(client, subscriber, options);
  }

  /** Receive the other runners' pauses (and the one in force when this runner joins). */
  async listen(onPause: (scope: string | undefined, ms: number) => void): Promise<void> {
    this.#onPause = onPause;
    this.#subscriber.on('message', (_channel: string, text: string) => {
      const message = JSON.parse(text) as { from: string; scope: string | null; ms: number };
      if (message.from !== this.#id) this.#onPause?.(message.scope ?? undefined, message.ms);
    });
    await this.#subscriber.subscribe(`${this.#prefix}:pause`);
    const left = await this.#client.pttl(`${this.#prefix}:pause:`);
    if (left > 0) onPause(undefined, left);
  }

  /** Tell the other runners about a pause of `scope` (undefined: the job). */
  share(scope: string | undefined, ms: number): void {
    const message = JSON.stringify({ from: this.#id, scope: scope ?? null, ms });
    this.#client
      .multi()
      .publish(`${this.#prefix}:pause`, message)
      .set(`${this.#prefix}:pause:${scope ?? ''}`, '1', 'PX', Math.max(1, Math.ceil(ms)))
      .exec()
      .catch(() => {});
  }

  async acquireSlot(signal: AbortSignal): Promise<{ release(): void }> {
    const lease = await (this.#slots as RedisSemaphore).acquire({ signal });
    return { release: () => void lease.release().catch(() => {}) };
  }

  async acquireRate(scope: string | undefined, signal: AbortSignal): Promise<void> {
    if (scope === undefined) await (this.#rate as RedisRateLimiter).acquire({ signal });
    else await (this.#keyRate as RedisRateLimiter).acquire({ key: scope, signal });
  }

  async close(): Promise<void> {
    await Promise.all([this.#rate?.close(), this.#keyRate?.close(), this.#slots?.close()]);
    this.#subscriber.disconnect();
    await this.#client.quit().catch(() => {});
  }
}
