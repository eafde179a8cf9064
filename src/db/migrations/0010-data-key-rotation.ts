import { OPERATOR_ROLE } from '../roles.ts';

/**
 * Tenant data-key rotation.
 *
 * `audit_events.payload_commitment` = SHA-256(salt ‖ payload plaintext), the salt sealed inside the
 * payload. New links commit to it instead of the payload's ciphertext, so the ciphertext can be
 * re-encrypted under a new data key without breaking the chain (older events, whose commitment is
 * null, keep committing to their ciphertext and are left as they are).
 *
 * The rotation re-encrypts every sealed column of the tenant as the operator role, one page per
 * short transaction, so operators may update exactly those columns. The audit trail stays
 * append-only in substance: a rewritten `sealed_payload` must still open to the content its link
 * committed to, or `verify` reports that event; every other column of an event stays unwritable.
 */
export const dataKeyRotation = {
  id: '0010-data-key-rotation',
  sql: `
alter table audit_events add column payload_commitment bytea;
grant update (sealed_payload) on audit_events to ${OPERATOR_ROLE};
grant update (sealed_api_key) on providers to ${OPERATOR_ROLE};
grant update (sealed_content) on thread_messages to ${OPERATOR_ROLE};
grant update (sealed_request, sealed_result) on approvals to ${OPERATOR_ROLE};
`,
};
