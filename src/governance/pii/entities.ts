export const PII_ENTITIES = [
  'email',
  'phone',
  'payment_card',
  'iban',
  'us_ssn',
  'ip_address',
  'secret',
] as const;
export type PiiEntity = (typeof PII_ENTITIES)[number];

export const PII_ACTIONS = ['allow', 'redact', 'block'] as const;
export type PiiAction = (typeof PII_ACTIONS)[number];

export interface PiiMatch {
  entity: PiiEntity;
  start: number;
  end: number;
  value: string;
}
