import { describe, expect, it } from 'vitest';
import { type ChainedFields, GENESIS_HASH, linkHash } from './chain.ts';

const base: ChainedFields = {
  tenantId: 'tn_01m80000000000000000000000',
  seq: 1,
  eventId: 'aud_01m80000000000000000000000',
  at: new Date('2026-11-22T05:00:00.123Z'),
  actorKind: 'api_key',
  actorId: 'key_01m80000000000000000000000',
  action: 'api_key.create',
  resourceType: 'api_key',
  resourceId: 'key_01m80000000000000000000001',
  decision: 'allowed',
  rule: null,
  requestId: 'req_1',
  details: { role: 'member', scopes: ['inference'] },
  sealedPayload: null,
};

describe('linkHash', () => {
  it('is deterministic and independent of the order of detail keys', () => {
    const a = linkHash(GENESIS_HASH, base);
    const b = linkHash(GENESIS_HASH, {
      ...base,
      details: { scopes: ['inference'], role: 'member' },
    });
    expect(a.equals(b)).toBe(true);
    expect(a).toHaveLength(32);
  });

  it.each<[string, Partial<ChainedFields>]>([
    ['seq', { seq: 2 }],
    ['tenant', { tenantId: 'tn_01m80000000000000000000009' }],
    ['time', { at: new Date('2026-11-22T05:00:00.124Z') }],
    ['actor', { actorId: 'key_other' }],
    ['action', { action: 'api_key.revoke' }],
    ['resource', { resourceId: null }],
    ['decision', { decision: 'denied' }],
    ['rule', { rule: 'pii.email' }],
    ['request id', { requestId: 'req_2' }],
    ['details', { details: { role: 'owner', scopes: ['inference'] } }],
    ['payload', { sealedPayload: Buffer.from([1, 2, 3]) }],
  ])('changes when the %s changes', (_name, change) => {
    expect(
      linkHash(GENESIS_HASH, { ...base, ...change }).equals(linkHash(GENESIS_HASH, base)),
    ).toBe(false);
  });

  it('depends on the previous link', () => {
    const first = linkHash(GENESIS_HASH, base);
    expect(linkHash(first, base).equals(first)).toBe(false);
  });
});
