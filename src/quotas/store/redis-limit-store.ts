import { Redis } from 'ioredis';
import {
  type AcquireRequest,
  type AcquireResult,
  type LimitStore,
  LimitStoreUnavailable,
  type ReleaseRequest,
  type ReserveRequest,
  type ReserveResult,
  type SettleRequest,
  type ThresholdReached,
  tenantKey,
} from './limit-store.ts';
import * as scripts from './redis-scripts.ts';
import type { Script } from './redis-scripts.ts';

export interface RedisLimitStoreOptions {
  /** Put before every key; tests use a random one. */
  keyPrefix?: string;
  /** How long a command, or a connection still opening, may take before the store counts as down. */
  commandTimeoutMs?: number;
}

function optional(value: number | undefined): string {
  return value === undefined ? '' : String(value);
}

function malformed(reply: unknown): Error {
  return new Error(`unexpected reply from a limit script: ${JSON.stringify(reply)}`);
}

/**
 * Counters shared by every Bulkhead node using the same Redis. Every operation is one Lua script,
 * so a check across several limits and its update are atomic. Keys hash on the tenant id, so on a
 * Redis Cluster one tenant's keys share a slot.
 *
 * Time comes from the caller (`now` in the arguments), not from Redis TIME: tests drive it, and
 * the memory store works the same way. The cost is that nodes' clocks must agree: a bucket never
 * moves its timestamp backwards, so a node whose clock runs behind refills nothing until it
 * catches up, and one running ahead refills early by its skew — a few milliseconds under NTP.
 * Expiries are relative (PEXPIRE), so they do not depend on the caller's clock at all.
 */
export class RedisLimitStore implements LimitStore {
  readonly #redis: Redis;
  readonly #owned: boolean;
  readonly #prefix: string;
  readonly #timeoutMs: number;
  #opening: Promise<void> | undefined;

  /**
   * From a URL, the store opens and owns its connection: commands are not queued while offline and
   * not retried, so an outage fails fast instead of piling requests up. A given instance stays the
   * caller's, with the caller's options, and outlives `close()`.
   */
  constructor(connection: string | Redis, options: RedisLimitStoreOptions = {}) {
    this.#prefix = options.keyPrefix ?? 'bk:';
    this.#timeoutMs = options.commandTimeoutMs ?? 200;
    if (typeof connection === 'string') {
      this.#redis = new Redis(connection, {
        enableOfflineQueue: false,
        maxRetriesPerRequest: 0,
        autoResendUnfulfilledCommands: false,
        commandTimeout: this.#timeoutMs,
        connectTimeout: 1000,
      });
      // Failures reach callers as LimitStoreUnavailable per command; unheard, ioredis prints them.
      this.#redis.on('error', () => {});
      this.#owned = true;
    } else {
      this.#redis = connection;
      this.#owned = false;
    }
  }

  async acquire(
    tenantId: string,
    { now, buckets, leases }: AcquireRequest,
  ): Promise<AcquireResult> {
    const reply = await this.#run(
      scripts.acquire,
      [...buckets.map((b) => b.key), ...leases.map((l) => l.key)].map((k) =>
        this.#key(tenantId, k),
      ),
      [
        now,
        buckets.length,
        ...buckets.flatMap((b) => [b.capacity, b.periodMs, b.cost]),
        ...leases.flatMap((l) => [l.limit, l.leaseId, l.ttlMs]),
      ],
    );
    if (!Array.isArray(reply) || reply.length !== 1 + buckets.length + leases.length)
      throw new LimitStoreUnavailable(malformed(reply));
    const [admitted, ...rest] = reply as unknown[];
    return {
      admitted: admitted === 1,
      levels: rest.slice(0, buckets.length).map(Number),
      inUse: rest.slice(buckets.length).map(Number),
    };
  }

  async release(tenantId: string, { now, buckets, leases }: ReleaseRequest): Promise<void> {
    await this.#run(
      scripts.release,
      [...buckets.map((b) => b.key), ...leases.map((l) => l.key)].map((k) =>
        this.#key(tenantId, k),
      ),
      [
        now,
        buckets.length,
        ...buckets.flatMap((b) => [b.capacity, b.periodMs, b.amount]),
        ...leases.map((l) => l.leaseId),
      ],
    );
  }

  async reserveSpend(
    tenantId: string,
    { amountNanoUsd, counters }: ReserveRequest,
  ): Promise<ReserveResult> {
    const reply = await this.#run(
      scripts.reserveSpend,
      counters.map((c) => this.#key(tenantId, c.key)),
      [
        amountNanoUsd,
        ...counters.flatMap((c) => [
          c.ttlMs,
          optional(c.softNanoUsd),
          optional(c.hardNanoUsd),
          optional(c.seedNanoUsd),
        ]),
      ],
    );
    if (!Array.isArray(reply)) throw new LimitStoreUnavailable(malformed(reply));
    const [outcome, ...rest] = reply as unknown[];
    switch (outcome) {
      case 'reserved':
        return { outcome };
      case 'unseeded':
        return { outcome, indexes: rest.map(Number) };
      case 'refused': {
        const [index, spent, reserved] = rest.map(Number);
        if (index === undefined || spent === undefined || reserved === undefined) break;
        return { outcome, index, spentNanoUsd: spent, reservedNanoUsd: reserved };
      }
    }
    throw new LimitStoreUnavailable(malformed(reply));
  }

  async settleSpend(
    tenantId: string,
    { reservedNanoUsd, actualNanoUsd, counters }: SettleRequest,
  ): Promise<ThresholdReached[]> {
    const reply = await this.#run(
      scripts.settleSpend,
      counters.map((c) => this.#key(tenantId, c.key)),
      [
        String(-reservedNanoUsd),
        actualNanoUsd,
        ...counters.flatMap((c) => [optional(c.softNanoUsd), optional(c.hardNanoUsd)]),
      ],
    );
    if (!Array.isArray(reply) || reply.length % 3 !== 0)
      throw new LimitStoreUnavailable(malformed(reply));
    const reached: ThresholdReached[] = [];
    for (let i = 0; i < reply.length; i += 3) {
      const threshold: unknown = reply[i + 1];
      if (threshold !== 'soft' && threshold !== 'hard')
        throw new LimitStoreUnavailable(malformed(reply));
      reached.push({ index: Number(reply[i]), threshold, spentNanoUsd: Number(reply[i + 2]) });
    }
    return reached;
  }

  async close(): Promise<void> {
    if (!this.#owned) return;
    if (this.#redis.status === 'ready') await this.#redis.quit();
    else this.#redis.disconnect();
  }

  #key(tenantId: string, key: string): string {
    return tenantKey(this.#prefix, tenantId, key);
  }

  async #run(script: Script, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      await this.#connected();
      try {
        return await this.#redis.evalsha(script.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!(err instanceof Error) || !err.message.startsWith('NOSCRIPT')) throw err;
        return await this.#redis.eval(script.lua, keys.length, ...keys, ...args);
      }
    } catch (err) {
      throw new LimitStoreUnavailable(err);
    }
  }

  /**
   * Without an offline queue, a command sent while the connection is still opening fails at once:
   * wait for it, at most the command timeout, so requests right after start-up are not refused.
   * While reconnecting after a failure, fail at once instead. Waiters share one pair of listeners.
   */
  #connected(): Promise<void> {
    const redis = this.#redis;
    if (redis.status === 'wait') redis.connect().catch(() => {});
    else if (redis.status !== 'connecting' && redis.status !== 'connect') return Promise.resolve();
    this.#opening ??= new Promise<void>((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        redis.off('ready', onReady).off('close', onClose);
        this.#opening = undefined;
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => settle();
      const onClose = () => settle(new Error('connection closed'));
      const timer = setTimeout(
        () => settle(new Error(`not connected within ${this.#timeoutMs} ms`)),
        this.#timeoutMs,
      );
      redis.once('ready', onReady).once('close', onClose);
    });
    return this.#opening;
  }
}
