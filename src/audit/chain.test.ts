import { describe, expect, it } from 'vitest';
import { type ChainedFields, GENESIS_HASH, linkHash, payloadCommitment } from './chain.ts';

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
  payloadCommitment: null,
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
    ['payload commitment', { payloadCommitment: Buffer.alloc(32, 7) }],
  ])('changes when the %s changes', (_name, change) => {
    expect(
      linkHash(GENESIS_HASH, { ...base, ...change }).equals(linkHash(GENESIS_HASH, base)),
    ).toBe(false);
  });

  it('depends on the previous link', () => {
    const first = linkHash(GENESIS_HASH, base);
    expect(linkHash(first, base).equals(first)).toBe(false);
  });

  it('hashes events written before payload commitments exactly as it always did', () => {
    // Computed with the chain code before commitments existed: stored links must keep verifying.
    expect(linkHash(GENESIS_HASH, base).toString('hex')).toBe(
      'fed612ce2d62bd785c1abe84d82d3fb46b2c5a078e85a1f274ee1192aad4548a',
    );
    expect(
      linkHash(GENESIS_HASH, { ...base, sealedPayload: Buffer.from([1, 2, 3]) }).toString('hex'),
    ).toBe('0203447cd1ced001dc9685cdecbb30e77e9ec61c89acb9f11cc4f6026e03a45a');
  });

  it('commits to the payload content, not its ciphertext, once there is a commitment', () => {
    const commitment = payloadCommitment(Buffer.alloc(16, 1), Buffer.from('{"input":"x"}'));
    const withCommitment = { ...base, payloadCommitment: commitment };
    const a = linkHash(GENESIS_HASH, { ...withCommitment, sealedPayload: Buffer.from([1, 2, 3]) });
    const b = linkHash(GENESIS_HASH, { ...withCommitment, sealedPayload: Buffer.from([4, 5, 6]) });
    expect(a.equals(b)).toBe(true);
    // Dropping the commitment (to pass the row off as an old one) changes the link.
    expect(
      linkHash(GENESIS_HASH, { ...base, sealedPayload: Buffer.from([1, 2, 3]) }).equals(a),
    ).toBe(false);
  });
});

describe('payloadCommitment', () => {
  it('depends on the salt and on every byte of the content', () => {
    const salt = Buffer.alloc(16, 1);
    const content = Buffer.from('{"input":"x"}');
    const c = payloadCommitment(salt, content);
    expect(c).toHaveLength(32);
    expect(payloadCommitment(Buffer.alloc(16, 2), content).equals(c)).toBe(false);
    expect(payloadCommitment(salt, Buffer.from('{"input":"y"}')).equals(c)).toBe(false);
    expect(payloadCommitment(salt, content).equals(c)).toBe(true);
  });
});
