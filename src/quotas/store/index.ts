import type { LimitStore } from './limit-store.ts';
import { MemoryLimitStore } from './memory-limit-store.ts';
import { RedisLimitStore } from './redis-limit-store.ts';

export type { LimitStore } from './limit-store.ts';
export { LimitStoreUnavailable } from './limit-store.ts';
export { MemoryLimitStore } from './memory-limit-store.ts';
export { RedisLimitStore } from './redis-limit-store.ts';
export type { OnStoreDown } from './failover.ts';

/** Redis when a URL is configured (counters shared by every node), otherwise this node's memory. */
export function createLimitStore(redisUrl: string | undefined): LimitStore {
  if (redisUrl === undefined) return new MemoryLimitStore();
  let protocol: string;
  try {
    protocol = new URL(redisUrl).protocol;
  } catch {
    throw new Error('The limit store URL is not a URL; expected redis://host:port');
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:')
    throw new Error(`The limit store URL must start with redis:// or rediss://, not ${protocol}//`);
  return new RedisLimitStore(redisUrl);
}
