import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys look like `bk_<tenant id>_<43 characters of secret>`. The tenant id in the key only says
 * where to look: the key is found by its hash inside that tenant's row-level-security scope, so a key
 * edited to name another tenant matches nothing. Keys are stored as SHA-256 hashes; with 256 bits of
 * secret, a slow password hash would add latency to every request and no security.
 */
const keyPattern = /^bk_(tn_[0-9a-z]{26})_([A-Za-z0-9_-]{43})$/;

export interface GeneratedKey {
  secret: string;
  hash: Buffer;
  displayPrefix: string;
}

export function generateApiKey(tenantId: string): GeneratedKey {
  const secret = `bk_${tenantId}_${randomBytes(32).toString('base64url')}`;
  return { secret, hash: hashApiKey(secret), displayPrefix: displayPrefix(secret) };
}

export function hashApiKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function parseApiKey(secret: string): { tenantId: string } | null {
  const match = keyPattern.exec(secret);
  return match ? { tenantId: match[1]! } : null;
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith('bk_');
}

function displayPrefix(secret: string): string {
  return `${secret.slice(0, 12)}…${secret.slice(-4)}`;
}
