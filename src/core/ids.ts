import { randomBytes } from 'node:crypto';

/**
 * Ids are a short type prefix plus 26 lowercase base32 characters: the first 10 encode the creation
 * time in milliseconds (so ids sort by age, like ULIDs), the rest are random. The alphabet has no
 * underscore, so `prefix_body` splits unambiguously.
 */
const alphabet = '0123456789abcdefghjkmnpqrstvwxyz';

export const idPrefixes = {
  tenant: 'tn',
  apiKey: 'key',
  user: 'usr',
  provider: 'prv',
  usage: 'use',
  request: 'req',
  operatorAction: 'opa',
  auditEvent: 'aud',
  accessGrant: 'grt',
  approval: 'apr',
  collection: 'col',
  document: 'doc',
  chunk: 'chk',
  thread: 'thr',
  message: 'msg',
  ingestJob: 'job',
} as const;

export type IdKind = keyof typeof idPrefixes;

export function newId(kind: IdKind, now: number = Date.now()): string {
  let time = '';
  let t = now;
  for (let i = 0; i < 10; i++) {
    time = alphabet[t % 32]! + time;
    t = Math.floor(t / 32);
  }
  const random = randomBytes(16);
  let tail = '';
  for (let i = 0; i < 16; i++) tail += alphabet[random[i]! % 32];
  return `${idPrefixes[kind]}_${time}${tail}`;
}

const idPattern = /^[a-z]{2,3}_[0-9a-hjkmnp-tv-z]{26}$/;

export function isId(kind: IdKind, value: string): boolean {
  return idPattern.test(value) && value.startsWith(`${idPrefixes[kind]}_`);
}
