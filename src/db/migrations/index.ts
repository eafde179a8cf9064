import { foundation } from './0001-foundation.ts';
import { audit } from './0002-audit.ts';
import { accessGrants } from './0003-access-grants.ts';
import { tenantTombstones } from './0004-tenant-tombstones.ts';
import { masterKeyRotation } from './0005-master-key-rotation.ts';
import { governance } from './0006-governance.ts';
import { knowledge } from './0007-knowledge.ts';
import { memory } from './0008-memory.ts';
import { ingestJobs } from './0009-ingest-jobs.ts';
import { dataKeyRotation } from './0010-data-key-rotation.ts';
import { tenantPlacement } from './0011-tenant-placement.ts';
import { moreGrantScopes } from './0012-grant-scopes.ts';
import { auditAnchors } from './0013-audit-anchors.ts';
import { tenantKeks } from './0014-tenant-keks.ts';

/** Applied in this order, each once, each in its own transaction. Never edit one that has shipped. */
export const migrations: readonly { id: string; sql: string }[] = [
  foundation,
  audit,
  accessGrants,
  tenantTombstones,
  masterKeyRotation,
  governance,
  knowledge,
  memory,
  ingestJobs,
  dataKeyRotation,
  tenantPlacement,
  moreGrantScopes,
  auditAnchors,
  tenantKeks,
];
