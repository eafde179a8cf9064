/**
 * The one error registry. Every error a client can see has a stable code, an HTTP status and the
 * OpenAI error `type` used when it is rendered on the gateway surface.
 */
const registry = {
  BK_BAD_REQUEST: { status: 400, type: 'invalid_request_error' },
  BK_INVALID_JSON: { status: 400, type: 'invalid_request_error' },
  BK_INVALID_UTF8: { status: 400, type: 'invalid_request_error' },
  BK_VALIDATION_FAILED: { status: 400, type: 'invalid_request_error' },
  BK_UNSUPPORTED_MEDIA_TYPE: { status: 415, type: 'invalid_request_error' },
  BK_BODY_TOO_LARGE: { status: 413, type: 'invalid_request_error' },
  BK_UNAUTHENTICATED: { status: 401, type: 'authentication_error' },
  BK_KEY_REVOKED: { status: 401, type: 'authentication_error' },
  BK_KEY_EXPIRED: { status: 401, type: 'authentication_error' },
  BK_TENANT_SUSPENDED: { status: 403, type: 'permission_error' },
  BK_FORBIDDEN: { status: 403, type: 'permission_error' },
  BK_NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  BK_MODEL_NOT_FOUND: { status: 404, type: 'invalid_request_error' },
  BK_CONFLICT: { status: 409, type: 'invalid_request_error' },
  BK_UNSUPPORTED_OPERATION: { status: 400, type: 'invalid_request_error' },
  BK_POLICY_BLOCKED: { status: 400, type: 'invalid_request_error' },
  BK_POLICY_MODEL_NOT_ALLOWED: { status: 403, type: 'permission_error' },
  BK_POLICY_INVALID: { status: 503, type: 'api_error' },
  BK_APPROVAL_DENIED: { status: 403, type: 'permission_error' },
  BK_RATE_LIMITED: { status: 429, type: 'rate_limit_error' },
  BK_BUDGET_EXCEEDED: { status: 429, type: 'insufficient_quota' },
  BK_LIMIT_STORE_UNAVAILABLE: { status: 503, type: 'api_error' },
  BK_UPSTREAM_CIRCUIT_OPEN: { status: 503, type: 'api_error' },
  BK_KNOWLEDGE_UNAVAILABLE: { status: 503, type: 'api_error' },
  BK_UPSTREAM_BAD_REQUEST: { status: 400, type: 'invalid_request_error' },
  BK_UPSTREAM_RATE_LIMITED: { status: 429, type: 'rate_limit_error' },
  BK_UPSTREAM_AUTH_FAILED: { status: 502, type: 'api_error' },
  BK_UPSTREAM_ERROR: { status: 502, type: 'api_error' },
  BK_UPSTREAM_UNREACHABLE: { status: 502, type: 'api_error' },
  BK_UPSTREAM_TIMEOUT: { status: 504, type: 'timeout_error' },
  BK_CLIENT_CLOSED: { status: 499, type: 'api_error' },
  BK_SHUTTING_DOWN: { status: 503, type: 'api_error' },
  BK_TENANT_MOVING: { status: 503, type: 'api_error' },
  BK_SILO_UNSUITABLE: { status: 409, type: 'invalid_request_error' },
  BK_AUDIT_ANCHOR_UNAVAILABLE: { status: 503, type: 'api_error' },
  BK_UNAVAILABLE: { status: 503, type: 'api_error' },
  BK_TENANT_KEY_DESTROYED: { status: 410, type: 'invalid_request_error' },
  BK_INTERNAL: { status: 500, type: 'api_error' },
} as const satisfies Record<string, { status: number; type: string }>;

export type ErrorCode = keyof typeof registry;

export class BkError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly type: string;
  /** Extra response headers (Retry-After on rate limits). */
  readonly headers: Record<string, string>;
  /** The request parameter at fault, when there is one (OpenAI's `param`). */
  readonly param: string | null;
  /** The policy rule that refused the request, when a tenant's policy did (for the audit trail). */
  readonly rule: string | null;

  constructor(
    code: ErrorCode,
    message: string,
    options: {
      cause?: unknown;
      headers?: Record<string, string>;
      param?: string;
      rule?: string;
    } = {},
  ) {
    super(message, { cause: options.cause });
    this.name = 'BkError';
    this.code = code;
    this.status = registry[code].status;
    this.type = registry[code].type;
    this.headers = options.headers ?? {};
    this.param = options.param ?? null;
    this.rule = options.rule ?? null;
  }
}

/** The one answer for "does not exist" and "is not yours": callers must not be able to tell them apart. */
export function notFound(kind: string, id: string): BkError {
  return new BkError('BK_NOT_FOUND', `No ${kind} with id '${id}'.`);
}
