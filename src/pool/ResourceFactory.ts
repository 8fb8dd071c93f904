import { TimeoutError } from '../core/errors.js';
import type { PoolSettings } from './options.js';

/**
 * The user's create / validate / reset / destroy, each under its deadline,
 * and the backoff between failed creates. The pool decides when; this runs
 * them so that none can hang it or leak a resource. Internal.
 */
export class ResourceFactory<T> {
  readonly #settings: PoolSettings<T>;
  /** A resource that arrived after its create's deadline (or an abort): it is destroyed, not lent. */
  readonly #onLate: (resource: T) => void;
  readonly #controllers = new Set<AbortController>();
  readonly #destroying = new Set<Promise<void>>();
  #creating = 0;
  #failures = 0;
  #lastDelay = 0;

  constructor(settings: PoolSettings<T>, onLate: (resource: T) => void) {
    this.#settings = settings;
    this.#onLate = onLate;
  }

  /** Creates in flight. */
  get creating(): number {
    return this.#creating;
  }

  /**
   * Make a resource within `createTimeout`. `created` or `failed` is called in
   * the same reaction that takes the create off `creating`. A timeout (or
   * `abortCreates`) fails the create at once; a resource that still arrives
   * afterwards goes to `onLate`.
   */
  create(created: (resource: T) => void, failed: (error: unknown) => void): void {
    const { clock, createTimeout } = this.#settings;
    this.#creating++;
    const controller = new AbortController();
    this.#controllers.add(controller);
    const timer =
      createTimeout === Number.POSITIVE_INFINITY
        ? undefined
        : clock.setTimeout(() => {
            controller.abort(new TimeoutError(`Pool create timed out after ${createTimeout} ms`));
          }, createTimeout);
    const finish = () => {
      clock.clearTimeout(timer);
      this.#controllers.delete(controller);
      this.#creating--;
    };
    let creation: Promise<T>;
    try {
      creation = Promise.resolve(this.#settings.create(controller.signal));
    } catch (error) {
      creation = Promise.reject(error);
    }
    const aborted = new Promise<never>((_, reject) => {
      controller.signal.addEventListener('abort', () => reject(controller.signal.reason), { once: true });
    });
    creation.then(
      (resource) => {
        if (controller.signal.aborted) this.#onLate(resource);
      },
      () => {},
    );
    Promise.race([creation, aborted]).then(
      (resource) => {
        finish();
        this.#failures = 0;
        this.#lastDelay = 0;
        created(resource);
      },
      (error: unknown) => {
        finish();
        failed(error);
      },
    );
  }

  /** Fail every create in flight with `error` now (their resources, if they come, are destroyed). */
  abortCreates(error: unknown): void {
    for (const controller of this.#controllers) controller.abort(error);
  }

  /** After a failed create: how long to wait before the next one (`createBackoff`, per consecutive failure). */
  backoff(): number {
    this.#failures++;
    const delay = this.#settings.createBackoff({
      attempt: this.#failures,
      previousDelay: this.#lastDelay,
      random: this.#settings.random,
    });
    this.#lastDelay = delay;
    return delay;
  }

  /** Whether `resource` still works, within `validateTimeout`; a throw or a late answer is "no". */
  async validate(resource: T): Promise<boolean> {
    const validate = this.#settings.validate;
    if (validate === undefined) return true;
    try {
      return (
        (await this.#guard((signal) => validate(resource, signal), this.#settings.validateTimeout, 'validate')) === true
      );
    } catch {
      return false;
    }
  }

  /** Prepare a returned resource, within `validateTimeout`. Rejects if it throws or is late. */
  reset(resource: T): Promise<void> {
    const reset = this.#settings.reset;
    return reset === undefined
      ? Promise.resolve()
      : this.#guard(() => reset(resource), this.#settings.validateTimeout, 'reset');
  }

  /** Dispose of `resource` within `destroyTimeout`; `failed` hears its error. */
  destroy(resource: T, failed: (error: unknown) => void): void {
    const destroy = this.#settings.destroy;
    if (destroy === undefined) return;
    const done: Promise<void> = this.#guard(() => destroy(resource), this.#settings.destroyTimeout, 'destroy').then(
      () => {
        this.#destroying.delete(done);
      },
      (error: unknown) => {
        this.#destroying.delete(done);
        failed(error);
      },
    );
    this.#destroying.add(done);
  }

  /** Resolves once every destroy started so far (and any they lead to) has ended. */
  async destroyed(): Promise<void> {
    while (this.#destroying.size > 0) await Promise.all([...this.#destroying]);
  }

  /** Run a factory step with a deadline; its signal aborts at the deadline. */
  #guard<R>(step: (signal: AbortSignal) => R | PromiseLike<R>, ms: number, what: string): Promise<R> {
    const clock = this.#settings.clock;
    const controller = new AbortController();
    return new Promise<R>((resolve, reject) => {
      const timer =
        ms === Number.POSITIVE_INFINITY
          ? undefined
          : clock.setTimeout(() => {
              const error = new TimeoutError(`Pool ${what} timed out after ${ms} ms`);
              controller.abort(error);
              reject(error);
            }, ms);
      let result: Promise<R>;
      try {
        result = Promise.resolve(step(controller.signal));
      } catch (error) {
        result = Promise.reject(error);
      }
      result.then(
        (value) => {
          clock.clearTimeout(timer);
          resolve(value);
        },
        (error: unknown) => {
          clock.clearTimeout(timer);
          reject(error);
        },
      );
    });
  }
}
