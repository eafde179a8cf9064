import { BkError } from '../../core/errors.ts';
import { type LimitStore, LimitStoreUnavailable } from './limit-store.ts';

/** A tenant's choice for when the shared limit store is unreachable. */
export type OnStoreDown = 'closed' | 'local';

export interface WarnLog {
  warn(obj: object, msg: string): void;
}

/**
 * Runs an operation on the shared store or, when that store is unreachable, refuses the request
 * (`closed`) or runs the operation on this node's memory store instead (`local`) — which then
 * limits each node on its own. One warning per outage, not one per request.
 */
export class StoreFailover {
  readonly #shared: LimitStore;
  readonly #local: LimitStore;
  readonly #log: WarnLog;
  readonly #what: string;
  #down = false;

  constructor(options: { shared: LimitStore; local: LimitStore; log: WarnLog; what: string }) {
    this.#shared = options.shared;
    this.#local = options.local;
    this.#log = options.log;
    this.#what = options.what;
  }

  async run<T>(
    tenantId: string,
    onStoreDown: OnStoreDown,
    operation: (store: LimitStore) => Promise<T>,
  ): Promise<{ store: LimitStore; result: T }> {
    try {
      const result = await operation(this.#shared);
      this.#down = false;
      return { store: this.#shared, result };
    } catch (err) {
      if (!(err instanceof LimitStoreUnavailable)) throw err;
      if (onStoreDown === 'closed')
        throw new BkError(
          'BK_LIMIT_STORE_UNAVAILABLE',
          `The limit store is unreachable and this tenant's policy fails closed, so ${this.#what} cannot be checked. Try again shortly.`,
          { cause: err },
        );
      if (!this.#down) {
        this.#down = true;
        this.#log.warn(
          { err, tenantId },
          `Limit store unreachable: ${this.#what} of tenants that chose 'local' are enforced per node until it is back`,
        );
      }
      return { store: this.#local, result: await operation(this.#local) };
    }
  }
}
