import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { BkError } from '../../core/errors.ts';
import { isId, newId } from '../../core/ids.ts';
import { type Role, roles, type TenantContext } from '../../core/tenant-context.ts';
import { type Database, type TenantTx, withClaimedTenant } from '../../db/scope.ts';
import { effectiveScopes } from '../permissions.ts';
import { mintTenantContext } from './mint.ts';

export interface JwtOptions {
  secret?: string;
  jwksUrl?: string;
  issuer: string;
  audience: string;
  tenantClaim: string;
  roleClaim: string;
}

const hmacAlgorithms = ['HS256', 'HS384', 'HS512'];
const asymmetricAlgorithms = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
];

function reason(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim '${err.claim}' is invalid`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return 'the signature does not verify';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'the signing algorithm is not allowed';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'no key in the JWKS matches the token';
  return 'the token is malformed or cannot be verified';
}

async function unclaimedEmail(tx: TenantTx, email: unknown): Promise<string | null> {
  // An email claim is not proof of owning a user an admin created: never link by it, and do not
  // let it collide with that user's unique email.
  if (typeof email !== 'string' || email.includes('\u0000') || email.length > 320) return null;
  const taken = await tx
    .selectFrom('users')
    .select('user_id')
    .where('email', '=', email)
    .executeTakeFirst();
  return taken === undefined ? email : null;
}

/**
 * Bearer JWTs from the customer's identity provider. The tenant comes only from a claim of a token
 * whose signature, issuer, audience and lifetime have been verified. Users are provisioned on first
 * sight (by `sub`); the role claim, when present and valid, is the identity provider's word for this
 * request.
 */
export function createJwtVerifier(db: Database, options: JwtOptions) {
  const key =
    options.secret !== undefined
      ? new TextEncoder().encode(options.secret)
      : createRemoteJWKSet(new URL(options.jwksUrl!), { cooldownDuration: 30_000 });
  const algorithms = options.secret !== undefined ? hmacAlgorithms : asymmetricAlgorithms;

  return async (token: string, requestId: string): Promise<TenantContext> => {
    let payload: JWTPayload;
    try {
      const verified = await (typeof key === 'function'
        ? jwtVerify(token, key, { issuer: options.issuer, audience: options.audience, algorithms })
        : jwtVerify(token, key, {
            issuer: options.issuer,
            audience: options.audience,
            algorithms,
          }));
      payload = verified.payload;
    } catch (err) {
      throw new BkError('BK_UNAUTHENTICATED', `Invalid bearer token: ${reason(err)}.`, {
        cause: err,
      });
    }
    const tenantId = payload[options.tenantClaim];
    if (typeof tenantId !== 'string' || !isId('tenant', tenantId)) {
      throw new BkError(
        'BK_UNAUTHENTICATED',
        `Invalid bearer token: claim '${options.tenantClaim}' must carry a Bulkhead tenant id.`,
      );
    }
    const subject = payload.sub;
    if (
      typeof subject !== 'string' ||
      subject.length === 0 ||
      subject.length > 256 ||
      subject.includes('\u0000')
    ) {
      throw new BkError('BK_UNAUTHENTICATED', "Invalid bearer token: claim 'sub' is required.");
    }
    const claimedRole = payload[options.roleClaim];
    const tokenRole = roles.find((r) => r === claimedRole);

    const found = await withClaimedTenant(db, tenantId, async (tx) => {
      const tenant = await tx
        .selectFrom('tenants')
        .select(['status'])
        .where('tenant_id', '=', tenantId)
        .executeTakeFirst();
      if (tenant === undefined) return null;
      let user = await tx
        .selectFrom('users')
        .select(['user_id', 'role'])
        .where('subject', '=', subject)
        .executeTakeFirst();
      if (user === undefined && tenant.status === 'active') {
        user = await tx
          .insertInto('users')
          .values({
            tenant_id: tenantId,
            user_id: newId('user'),
            subject,
            email: await unclaimedEmail(tx, payload.email),
            role: tokenRole ?? 'member',
          })
          .onConflict((oc) => oc.columns(['tenant_id', 'subject']).doNothing())
          .returning(['user_id', 'role'])
          .executeTakeFirst();
        user ??= await tx
          .selectFrom('users')
          .select(['user_id', 'role'])
          .where('subject', '=', subject)
          .executeTakeFirstOrThrow();
      }
      return { status: tenant.status, user };
    });
    if (found === null)
      throw new BkError('BK_UNAUTHENTICATED', 'Invalid bearer token: unknown tenant.');
    if (found.status !== 'active')
      throw new BkError('BK_TENANT_SUSPENDED', 'This tenant is suspended.');
    const user = found.user!;
    const role = tokenRole ?? (user.role as Role);
    return mintTenantContext({
      tenantId,
      principal: { kind: 'user', userId: user.user_id, subject },
      role,
      scopes: effectiveScopes(role, null),
      requestId,
    });
  };
}
