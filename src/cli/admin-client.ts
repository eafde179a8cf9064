import { existsSync, readFileSync } from 'node:fs';
import type { Env } from '../core/config.ts';
import { adminTokenFile } from '../http/embedded-secrets.ts';

export interface AdminTarget {
  url: string;
  token: string;
}

/** The CLI talks to a running server (an embedded database can only be opened by one process). */
export function adminTarget(env: Env, urlOption: string | undefined): AdminTarget {
  const url = urlOption ?? env.BULKHEAD_URL ?? `http://127.0.0.1:${env.PORT ?? '8080'}`;
  let token = env.BULKHEAD_ADMIN_TOKEN;
  const file = adminTokenFile(env.BULKHEAD_DATA_DIR ?? './.bulkhead');
  if (token === undefined && existsSync(file)) token = readFileSync(file, 'utf8').trim();
  if (token === undefined) {
    throw new Error(
      `No operator token: set BULKHEAD_ADMIN_TOKEN (or run from the directory whose ${file} the server wrote).`,
    );
  }
  return { url: url.replace(/\/$/, ''), token };
}

/** A tenant's own API (its policy): authenticated with one of its API keys. */
export function tenantTarget(
  env: Env,
  urlOption: string | undefined,
  keyOption: string | undefined,
): AdminTarget {
  const url = urlOption ?? env.BULKHEAD_URL ?? `http://127.0.0.1:${env.PORT ?? '8080'}`;
  const token = keyOption ?? env.BULKHEAD_API_KEY;
  if (token === undefined) {
    throw new Error('No tenant API key: set BULKHEAD_API_KEY or pass --api-key.');
  }
  return { url: url.replace(/\/$/, ''), token };
}

export async function adminRequest(
  target: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...headers,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (err) {
    throw new Error(
      `Cannot reach Bulkhead at ${target.url}: ${(err as Error).message}. Is \`bulkhead serve\` running?`,
    );
  }
  const payload = (await response.json().catch(() => null)) as {
    error?: { message?: string };
  } | null;
  if (!response.ok) {
    throw new Error(
      `${method} ${path} failed (HTTP ${response.status}): ${payload?.error?.message ?? 'no details'}`,
    );
  }
  return payload;
}
