import { findEmails } from './detectors/email.ts';
import { findIbans } from './detectors/iban.ts';
import { findIpAddresses } from './detectors/ip-address.ts';
import { findPaymentCards } from './detectors/payment-card.ts';
import { findPhones } from './detectors/phone.ts';
import { findSecrets } from './detectors/secret.ts';
import { findUsSsns } from './detectors/us-ssn.ts';
import { PII_ENTITIES, type PiiEntity, type PiiMatch } from './entities.ts';

const DETECTORS: Readonly<Record<PiiEntity, (text: string) => PiiMatch[]>> = {
  email: findEmails,
  phone: findPhones,
  payment_card: findPaymentCards,
  iban: findIbans,
  us_ssn: findUsSsns,
  ip_address: findIpAddresses,
  secret: findSecrets,
};

/** Most specific first: how overlaps between equally long values are broken. */
const SPECIFICITY: readonly PiiEntity[] = [
  'secret',
  'payment_card',
  'iban',
  'us_ssn',
  'email',
  'ip_address',
  'phone',
];

/**
 * Every PII value in `text`, sorted by start and non-overlapping. On overlap a secret wins (a token
 * in `https://x:ghs_…@github.com` is a secret, not an email), then the longer match (an IBAN whose
 * digits happen to pass as a card number stays an IBAN; a card's digit groups are not also a phone
 * number), then the more specific entity (SPECIFICITY). `entities` limits detection to those
 * entities; overlaps are then resolved among them only.
 */
export function detectPii(text: string, entities: readonly PiiEntity[] = PII_ENTITIES): PiiMatch[] {
  const candidates = entities.flatMap((entity) => DETECTORS[entity](text));
  if (candidates.length <= 1) return candidates;
  const isSecret = (m: PiiMatch) => (m.entity === 'secret' ? 0 : 1);
  const length = (m: PiiMatch) => m.end - m.start;
  const rank = (m: PiiMatch) => SPECIFICITY.indexOf(m.entity);
  candidates.sort(
    (a, b) =>
      isSecret(a) - isSecret(b) || length(b) - length(a) || rank(a) - rank(b) || a.start - b.start,
  );
  const kept: PiiMatch[] = [];
  for (const candidate of candidates) {
    if (kept.every((k) => candidate.end <= k.start || candidate.start >= k.end)) {
      kept.push(candidate);
    }
  }
  return kept.sort((a, b) => a.start - b.start);
}
