import { newId } from '../../core/ids.ts';
import type { Role, Scope } from '../../core/tenant-context.ts';
import type { OperatorTx, TenantTx } from '../../db/scope.ts';
import { generateApiKey } from './key-format.ts';
import { insertApiKey } from './repository.ts';
import { keyView } from './view.ts';

/** Creates a key and returns its view with the secret: the only time the secret is ever shown. */
export async function issueApiKey(
  tx: TenantTx | OperatorTx,
  key: {
    tenantId: string;
    name: string;
    role: Role;
    scopes: Scope[] | null;
    userId: string | null;
    createdBy: string;
    expiresAt: Date | null;
  },
) {
  const generated = generateApiKey(key.tenantId);
  const row = await insertApiKey(tx, {
    ...key,
    keyId: newId('apiKey'),
    hash: generated.hash,
    displayPrefix: generated.displayPrefix,
  });
  return { ...keyView(row), key: generated.secret };
}
