import { BkError, type ErrorCode } from '../../core/errors.ts';

export type CircuitState = 'closed' | 'open' | 'half_open';

const endpointFailureCodes: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BK_UPSTREAM_ERROR',
  'BK_UPSTREAM_TIMEOUT',
  'BK_UPSTREAM_UNREACHABLE',
  'BK_UPSTREAM_RATE_LIMITED',
]);

/**
 * Whether an upstream failure says the endpoint itself is unhealthy (5xx, timeout, unreachable,
 * 429). A rejected request or credential (other 4xx), the client leaving, or our own bug say
 * nothing about the endpoint.
 */
export function countsAsEndpointFailure(err: unknown): boolean {
  return err instanceof BkError && endpointFailureCodes.has(err.code);
}

interface Circuit {
  consecutiveFailures: number;
  /** Set while open or half-open: until then requests are refused, from then one probe may go. */
  retryAt: number | undefined;
  /** While a half-open probe is out, others are refused until its outcome or this time. */
  probeUntil: number | undefined;
}

/**
 * One circuit per upstream endpoint key. `failureThreshold` consecutive endpoint failures open it;
 * after `openMs` it is half-open and lets one probe through: the probe's success closes it, its
 * failure opens it for another `openMs`.
 *
 * Callers report `success` for any answer from the endpoint (a client 4xx included), `failure` for
 * errors where `countsAsEndpointFailure` holds, and nothing otherwise. A probe whose outcome is never
 * reported (the client left) stops blocking others after `openMs`.
 *
 * Key the circuits by whatever an upstream 429 is scoped to: if tenants bring their own upstream
 * credentials, one tenant's rate limit must not open the circuit for the others.
 */
export class CircuitBreakers {
  readonly #failureThreshold: number;
  readonly #openMs: number;
  readonly #now: () => number;
  /** Only endpoints with recent failures have an entry; a healthy one costs nothing. */
  readonly #circuits = new Map<string, Circuit>();

  constructor(options: { failureThreshold: number; openMs: number; now?: () => number }) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new RangeError(
        `failureThreshold must be a positive integer, got ${options.failureThreshold}`,
      );
    }
    if (!Number.isFinite(options.openMs) || options.openMs <= 0) {
      throw new RangeError(`openMs must be a positive number, got ${options.openMs}`);
    }
    this.#failureThreshold = options.failureThreshold;
    this.#openMs = options.openMs;
    this.#now = options.now ?? Date.now;
  }

  /** Throws BK_UPSTREAM_CIRCUIT_OPEN unless a request to the endpoint may go now. */
  enter(endpointKey: string): void {
    const circuit = this.#circuits.get(endpointKey);
    if (circuit?.retryAt === undefined) return;
    const now = this.#now();
    if (now < circuit.retryAt) throw this.#openError(endpointKey, circuit.retryAt, now);
    if (circuit.probeUntil !== undefined && now < circuit.probeUntil) {
      throw this.#openError(endpointKey, circuit.probeUntil, now);
    }
    circuit.probeUntil = now + this.#openMs;
  }

  success(endpointKey: string): void {
    if (this.state(endpointKey) !== 'open') this.#circuits.delete(endpointKey);
  }

  failure(endpointKey: string): void {
    const circuit = this.#circuits.get(endpointKey) ?? {
      consecutiveFailures: 0,
      retryAt: undefined,
      probeUntil: undefined,
    };
    this.#circuits.set(endpointKey, circuit);
    switch (this.state(endpointKey)) {
      case 'open':
        return;
      case 'half_open':
        this.#open(circuit);
        return;
      case 'closed':
        circuit.consecutiveFailures += 1;
        if (circuit.consecutiveFailures >= this.#failureThreshold) this.#open(circuit);
    }
  }

  state(endpointKey: string): CircuitState {
    const retryAt = this.#circuits.get(endpointKey)?.retryAt;
    if (retryAt === undefined) return 'closed';
    return this.#now() < retryAt ? 'open' : 'half_open';
  }

  #open(circuit: Circuit): void {
    circuit.retryAt = this.#now() + this.#openMs;
    circuit.probeUntil = undefined;
  }

  #openError(endpointKey: string, retryAt: number, now: number): BkError {
    const seconds = Math.max(1, Math.ceil((retryAt - now) / 1000));
    return new BkError(
      'BK_UPSTREAM_CIRCUIT_OPEN',
      `Upstream endpoint '${endpointKey}' is failing; Bulkhead will try it again in ${seconds}s (at ${new Date(retryAt).toISOString()}).`,
      { headers: { 'retry-after': String(seconds) } },
    );
  }
}
