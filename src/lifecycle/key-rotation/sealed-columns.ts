import { AUDIT_PAYLOAD_PURPOSE } from '../../audit/append.ts';
import { API_KEY_PURPOSE } from '../../gateway/router.ts';
import {
  APPROVAL_REQUEST_PURPOSE,
  APPROVAL_RESULT_PURPOSE,
} from '../../governance/approvals/repository.ts';
import { THREAD_MESSAGE_PURPOSE } from '../../memory/messages.ts';

/** A column of the primary key after `tenant_id`, with its SQL type (for a typed VALUES list). */
export interface KeyColumn {
  name: string;
  type: 'text' | 'bigint';
}

export interface SealedColumn {
  table: string;
  column: string;
  /** The purpose it was sealed for: part of the associated data, so it must match to open. */
  purpose: string;
  /** The rest of the primary key, in key order: re-encryption pages through it. */
  key: readonly KeyColumn[];
  /**
   * Audit payloads: only events that carry a payload commitment may be re-encrypted. Older links
   * commit to the ciphertext itself, so those payloads stay under the key they were sealed with.
   */
  committed?: true;
}

const text = (name: string): KeyColumn => ({ name, type: 'text' });

/**
 * The one registry of columns sealed with a tenant's data key. Rotating a tenant's data key
 * re-encrypts every column listed here; a `bytea` column in the schema that is neither here nor in
 * `NOT_SEALED_WITH_DATA_KEY` fails test/data-key-rotation.test.ts, so a new sealed column cannot be
 * forgotten (it would stop opening once its key version is retired).
 */
export const SEALED_COLUMNS: readonly SealedColumn[] = [
  {
    table: 'providers',
    column: 'sealed_api_key',
    purpose: API_KEY_PURPOSE,
    key: [text('provider_id')],
  },
  {
    table: 'thread_messages',
    column: 'sealed_content',
    purpose: THREAD_MESSAGE_PURPOSE,
    key: [text('thread_id'), text('message_id')],
  },
  {
    table: 'approvals',
    column: 'sealed_request',
    purpose: APPROVAL_REQUEST_PURPOSE,
    key: [text('approval_id')],
  },
  {
    table: 'approvals',
    column: 'sealed_result',
    purpose: APPROVAL_RESULT_PURPOSE,
    key: [text('approval_id')],
  },
  {
    table: 'audit_events',
    column: 'sealed_payload',
    purpose: AUDIT_PAYLOAD_PURPOSE,
    key: [{ name: 'seq', type: 'bigint' }],
    committed: true,
  },
];

/** `bytea` columns that are not sealed with a tenant's data key, and why. */
export const NOT_SEALED_WITH_DATA_KEY: ReadonlyMap<string, string> = new Map([
  ['api_keys.key_hash', 'a hash of the API key'],
  ['tenant_data_keys.wrapped_key', 'the data key itself, wrapped by the master key'],
  ['audit_heads.hash', 'a chain hash'],
  ['audit_events.prev_hash', 'a chain hash'],
  ['audit_events.hash', 'a chain hash'],
  ['audit_events.payload_commitment', 'a salted hash of the payload'],
  ['audit_anchors.hash', 'a chain hash, as signed in a checkpoint'],
  ['tenant_placements.sealed_url', 'sealed with the master key (it is read to find the tenant)'],
]);
