import { show } from '../core/validate.js';

/**
 * What sluice needs from a Redis client: send one command, and receive
 * pub/sub messages on a second connection. Pass an ioredis client, a
 * node-redis (v4+) client, or your own implementation of this interface.
 */
export interface RedisAdapter {
  /** Send one command; resolve with the reply, reject with the server's or the connection's error. */
  command(args: readonly string[]): Promise<unknown>;
  /**
   * Call `onMessage` with each message published on `channel` (on a dedicated
   * subscriber connection). Resolves once subscribed, with a function that
   * unsubscribes. (An adapter that calls `onMessage()` without the message
   * still works: the semaphore then looks for its hand-offs with one call.)
   */
  subscribe(channel: string, onMessage: (message?: string) => void): Promise<() => Promise<void>>;
}

/** The parts of an ioredis client sluice uses. */
export interface IoRedisLike {
  call(command: string, ...args: string[]): Promise<unknown>;
  duplicate(): IoRedisLike;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'message', listener: (channel: string, message: string) => void): unknown;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  once?(event: 'ready', listener: () => void): unknown;
  disconnect(): void;
  /** 'wait', 'connecting', 'ready', ... */
  readonly status?: string;
  readonly options?: { readonly enableOfflineQueue?: boolean };
}

/** The parts of a node-redis (v4+) client sluice uses. */
export interface NodeRedisLike {
  sendCommand(args: string[]): Promise<unknown>;
  duplicate(): NodeRedisLike;
  connect(): Promise<unknown>;
  subscribe(channel: string, listener: (message: string, channel: string) => void): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  on(event: 'error', listener: (error: unknown) => void): unknown;
  quit?(): Promise<unknown>;
  close?(): Promise<unknown>;
  destroy?(): unknown;
}

/** A client sluice can talk through. */
export type RedisClient = RedisAdapter | IoRedisLike | NodeRedisLike;

function isAdapter(client: object): client is RedisAdapter {
  return typeof (client as RedisAdapter).command === 'function';
}
function isIoRedis(client: object): client is IoRedisLike {
  return typeof (client as IoRedisLike).call === 'function' && typeof (client as IoRedisLike).duplicate === 'function';
}
function isNodeRedis(client: object): client is NodeRedisLike {
  return typeof (client as NodeRedisLike).sendCommand === 'function';
}
/**
 * A node-redis cluster (`createCluster`): its `sendCommand` takes the key that
 * routes the command first, `sendCommand(firstKey, isReadonly, args)`.
 */
function isNodeRedisCluster(client: NodeRedisLike): boolean {
  return 'masters' in client && 'slots' in client;
}

/** The key a command is routed by: EVAL/EVALSHA's first key, else the first argument. */
function routingKey(args: readonly string[]): string | undefined {
  const command = args[0]?.toUpperCase();
  if (command === 'EVAL' || command === 'EVALSHA') return Number(args[2]) > 0 ? args[3] : undefined;
  return args[1];
}

/**
 * One subscriber connection per adapter, shared by every channel, opened on
 * first use and closed when the last channel is unsubscribed.
 */
/** The subscriber connection an adapter opens. Internal. */
interface SubscriberConnection {
  add(channel: string): Promise<unknown>;
  remove(channel: string): Promise<unknown>;
  close(): Promise<void>;
}

class Subscriptions {
  #connection: Promise<SubscriberConnection> | undefined;
  readonly #listeners = new Map<string, Set<(message?: string) => void>>();
  constructor(readonly open: (deliver: (channel: string, message?: string) => void) => Promise<SubscriberConnection>) {}

  async subscribe(channel: string, onMessage: (message?: string) => void): Promise<() => Promise<void>> {
    const opening = (this.#connection ??= this.open((ch, message) => {
      for (const listener of this.#listeners.get(ch) ?? []) listener(message);
    }));
    let connection: SubscriberConnection;
    try {
      connection = await opening;
    } catch (error) {
      if (this.#connection === opening) this.#connection = undefined;
      throw error;
    }
    let set = this.#listeners.get(channel);
    if (set === undefined) {
      set = new Set();
      this.#listeners.set(channel, set);
      try {
        await connection.add(channel);
      } catch (error) {
        // A failed first SUBSCRIBE must not leave its connection open (it would keep the process alive).
        this.#listeners.delete(channel);
        await this.#closeIfUnused(connection);
        throw error;
      }
    }
    set.add(onMessage);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      const listeners = this.#listeners.get(channel);
      listeners?.delete(onMessage);
      if (listeners?.size === 0) {
        this.#listeners.delete(channel);
        if (this.#listeners.size > 0) await connection.remove(channel);
        else await this.#closeIfUnused(connection);
      }
    };
  }

  async #closeIfUnused(connection: SubscriberConnection): Promise<void> {
    if (this.#listeners.size > 0) return;
    this.#connection = undefined;
    await connection.close();
  }
}

/** ioredis without its offline queue refuses commands until connected: wait for `ready` first. */
function ready(client: IoRedisLike): Promise<void> | undefined {
  if (client.options?.enableOfflineQueue !== false || client.status === 'ready') return undefined;
  if (typeof client.once !== 'function') return undefined;
  return new Promise((resolve) => client.once?.('ready', resolve));
}

/** Wrap an ioredis or node-redis client (or pass an adapter through). */
export function toRedisAdapter(client: unknown, name = 'client'): RedisAdapter {
  if (typeof client !== 'object' || client === null) {
    throw new TypeError(`Expected \`${name}\` to be an ioredis or node-redis client, got ${show(client)}`);
  }
  // Clients first: both ioredis and node-redis also have a `command` method (the COMMAND command).
  if (isIoRedis(client)) {
    const subscriptions = new Subscriptions(async (deliver) => {
      const sub = client.duplicate();
      // This connection is ours; its errors (Redis restarting) are retried by
      // the client and surface to callers through their commands' timeouts.
      sub.on('error', () => {});
      sub.on('message', (channel, message) => deliver(channel, message));
      await ready(sub);
      return {
        add: (channel) => sub.subscribe(channel),
        remove: (channel) => sub.unsubscribe(channel),
        close: async () => sub.disconnect(),
      };
    });
    return {
      command: ([command, ...args]) => {
        const waiting = ready(client);
        if (waiting === undefined) return client.call(command as string, ...args);
        return waiting.then(() => client.call(command as string, ...args));
      },
      subscribe: (channel, onMessage) => subscriptions.subscribe(channel, onMessage),
    };
  }
  if (isNodeRedis(client)) {
    const subscriptions = new Subscriptions(async (deliver) => {
      const sub = client.duplicate();
      sub.on('error', () => {}); // see above
      await sub.connect();
      return {
        add: (channel) => sub.subscribe(channel, (message, ch) => deliver(ch ?? channel, message)),
        remove: (channel) => sub.unsubscribe(channel),
        close: async () => {
          if (typeof sub.close === 'function') await sub.close();
          else if (typeof sub.quit === 'function') await sub.quit();
          else sub.destroy?.();
        },
      };
    });
    const cluster = isNodeRedisCluster(client);
    const send = client.sendCommand as unknown as (...args: unknown[]) => Promise<unknown>;
    return {
      command: cluster
        ? (args) => send.call(client, routingKey(args), false, [...args])
        : (args) => client.sendCommand([...args]),
      subscribe: (channel, onMessage) => subscriptions.subscribe(channel, onMessage),
    };
  }
  if (isAdapter(client)) return client;
  throw new TypeError(
    `Expected \`${name}\` to be an ioredis client (with \`call\`), a node-redis client (with \`sendCommand\`) or an adapter (with \`command\`), got ${show(client)}`,
  );
}
