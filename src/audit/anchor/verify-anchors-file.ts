import { readFile } from 'node:fs/promises';
import { type AdminTarget, adminRequest } from '../../cli/admin-client.ts';
import {
  MAX_CHECKPOINTS_PER_REQUEST,
  type SignedCheckpoint,
  signedCheckpoint,
  unverifiedFields,
} from './checkpoint.ts';
import type { CheckpointVerification } from './verify-checkpoint.ts';

/**
 * `bulkhead audit verify --anchors <file>`: holds each tenant's chain against every checkpoint of
 * it in a published anchor file, through the operator API (the server checks the signatures and
 * walks each chain once per 1000 checkpoints). Returns false if anything failed, including a line
 * of the file that is not a checkpoint: a damaged anchor file is itself worth a look.
 */
export async function verifyAnchorsFile(
  target: AdminTarget,
  path: string,
  onlyTenant: string | undefined,
  write: (line: string) => void,
): Promise<boolean> {
  const text = await readFile(path, 'utf8');
  const byTenant = new Map<string, SignedCheckpoint[]>();
  let ok = true;
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    let parsed: ReturnType<typeof signedCheckpoint.safeParse> | null = null;
    try {
      parsed = signedCheckpoint.safeParse(JSON.parse(line));
    } catch {
      parsed = null;
    }
    const tenantId = parsed?.success === true ? unverifiedFields(parsed.data.jws)?.tenantId : null;
    if (parsed?.success !== true || tenantId == null) {
      ok = false;
      write(`${path}:${index + 1}: not an audit checkpoint\n`);
      return;
    }
    if (onlyTenant !== undefined && tenantId !== onlyTenant) return;
    const list = byTenant.get(tenantId) ?? [];
    list.push(parsed.data);
    byTenant.set(tenantId, list);
  });
  if (onlyTenant !== undefined && !byTenant.has(onlyTenant)) {
    write(`${onlyTenant}: no checkpoint of this tenant in ${path}\n`);
    return false;
  }
  for (const [tenantId, checkpoints] of byTenant) {
    const results: CheckpointVerification[] = [];
    for (let i = 0; i < checkpoints.length; i += MAX_CHECKPOINTS_PER_REQUEST) {
      const page = (await adminRequest(
        target,
        'POST',
        `/v1/admin/tenants/${encodeURIComponent(tenantId)}/audit/verify-checkpoints`,
        { checkpoints: checkpoints.slice(i, i + MAX_CHECKPOINTS_PER_REQUEST) },
      )) as { data: CheckpointVerification[] };
      results.push(...page.data);
    }
    const seen = new Set<string>();
    for (const result of results) {
      for (const failure of result.failures) {
        const where =
          result.checkpoint === null
            ? 'a checkpoint'
            : `checkpoint at event ${result.checkpoint.seq} (${result.checkpoint.at})`;
        // A broken chain fails every checkpoint alike: say it once.
        const line =
          failure.check === 'broken'
            ? `${tenantId}: BROKEN at event ${failure.brokenAt}: ${failure.reason}\n`
            : `${tenantId}: ${where}: ${failure.check.toUpperCase()}: ${failure.reason}\n`;
        if (!seen.has(line)) write(line);
        seen.add(line);
      }
    }
    const failed = results.filter((r) => !r.ok).length;
    if (failed > 0) ok = false;
    const head = results.find((r) => r.head !== null)?.head?.seq;
    write(
      failed === 0
        ? `${tenantId}: ok against ${results.length} checkpoints (head at event ${head})\n`
        : `${tenantId}: ${failed} of ${results.length} checkpoints fail\n`,
    );
  }
  return ok;
}
