import { describe, expect, it } from 'vitest';
import { ibanChecksumValid, luhnValid } from './checksums.ts';
import { detectPii } from './detect.ts';
import type { PiiEntity } from './entities.ts';

/** Appends the Luhn check digit, so test cards are computed, not copied. */
function withLuhnDigit(body: string): string {
  for (let d = 0; d <= 9; d++) if (luhnValid(body + d)) return body + d;
  throw new Error('unreachable');
}

/** Fills in the ISO 13616 check digits of `CC00…`. */
function withIbanCheck(country: string, bban: string): string {
  for (let check = 2; check <= 98; check++) {
    const iban = country + String(check).padStart(2, '0') + bban;
    if (ibanChecksumValid(iban)) return iban;
  }
  throw new Error('unreachable');
}

const print = (iban: string) => iban.replace(/(.{4})(?!$)/g, '$1 ');
const visa = withLuhnDigit('411111111111111');
const amex = withLuhnDigit('37828224631000');
const mastercard = withLuhnDigit('222100000000000');
const germanIban = withIbanCheck('DE', '370400440532013000');
const britishIban = withIbanCheck('GB', 'NWBK60161331926819');

function found(text: string, entity: PiiEntity): string[] {
  return detectPii(text, [entity]).map((m) => m.value);
}

describe('checksums', () => {
  it('checks Luhn and ISO 13616 against published examples', () => {
    expect(luhnValid('4111111111111111')).toBe(true);
    expect(luhnValid('4111111111111112')).toBe(false);
    expect(ibanChecksumValid('DE89370400440532013000')).toBe(true);
    expect(ibanChecksumValid('GB29NWBK60161331926819')).toBe(true);
    expect(ibanChecksumValid('DE89370400440532013001')).toBe(false);
    expect(germanIban).toBe('DE89370400440532013000');
  });
});

// Each row: text, entity, the values expected (an empty list for a hard negative).
const cases: [string, PiiEntity, string[]][] = [
  ['mail me at Jane.Doe+news@mail.example.co.uk.', 'email', ['Jane.Doe+news@mail.example.co.uk']],
  ["print('o'connor@example.ie')", 'email', ["o'connor@example.ie"]],
  [
    '<sam@example.org>, mailto:info@example.com?subject=x',
    'email',
    ['sam@example.org', 'info@example.com'],
  ],
  ['git clone git@github.com:acme/repo.git', 'email', []],
  ['icon@2x.png, lodash@4.17.21, root@localhost, @types/node', 'email', []],

  [
    '(415) 555-0132 / 415.555.0132 / 1-800-555-0199',
    'phone',
    ['(415) 555-0132', '415.555.0132', '1-800-555-0199'],
  ],
  [
    '+44 (0)20 7946 0958, +4915112345678, tel:+14155550123',
    'phone',
    ['+44 (0)20 7946 0958', '+4915112345678', '+14155550123'],
  ],
  ['020 7946 0958 or 07700 900123', 'phone', ['020 7946 0958', '07700 900123']],
  [
    'Tel. 030 12345678, Fax 0221 / 98 76 54, Zentrale 0221 98765-0',
    'phone',
    ['030 12345678', '0221 / 98 76 54', '0221 98765-0'],
  ],
  ['01 42 68 53 00 ou 06.12.34.56.78', 'phone', ['01 42 68 53 00', '06.12.34.56.78']],
  ['dates 2024-01-15, 15.01.2024, 12/03/2024 at 10:30-11:15', 'phone', []],
  ['ORD-2024-000123, #100234, INV 2024/03/118, $1,234.56, 1 234 567,89 €', 'phone', []],
  ['ISBN 978-3-16-148410-0, 0-306-40615-2; version 1.2.3.4; 5551234567', 'phone', []],
  ['FedEx 7489 2345 6789, USPS 9400 1000 0000 0000 0000 00, order 0123-4567-8901', 'phone', []],
  ['uuid 3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e, sha 5d41402abc4b2a76b9719d911017c592', 'phone', []],
  ['lotto 04 12 23 31 38 45, +15% growth, score +173, +12.5', 'phone', []],

  [`card ${print(visa)} exp 12 26`, 'payment_card', [print(visa).trimEnd()]],
  [
    `${visa}, ${amex.slice(0, 4)} ${amex.slice(4, 10)} ${amex.slice(10)}, ${mastercard.replace(/(\d{4})(?!$)/g, '$1-')}`,
    'payment_card',
    [
      visa,
      `${amex.slice(0, 4)} ${amex.slice(4, 10)} ${amex.slice(10)}`,
      mastercard.replace(/(\d{4})(?!$)/g, '$1-'),
    ],
  ],
  ['4111 1111 1111 1112 fails Luhn; 7012 3456 7890 1239 has no card IIN', 'payment_card', []],
  ['IMEI 35-209900-176148-1, EAN 5901234123457, ms 1705312345678', 'payment_card', []],

  [`${print(germanIban)} and ${britishIban}`, 'iban', [print(germanIban), britishIban]],
  ['DE89 3704 0044 0532 0130 01 (wrong check digits), RF18 5390 0754 7034', 'iban', []],
  [`${germanIban}123 is longer than a German IBAN`, 'iban', []],

  [
    'SSN 536-22-8714, on the card 399 47 1862, SSN: 450278813',
    'us_ssn',
    ['536-22-8714', '399 47 1862', '450278813'],
  ],
  ['000-12-3456 666-45-1234 912-70-1234 123-00-4567 456-78-0000', 'us_ssn', []],
  ['part 123-45-67890, EIN 94-1234567, plain 450278813', 'us_ssn', []],

  ['from 203.0.113.42:8080 and 10.0.0.0/8', 'ip_address', ['203.0.113.42', '10.0.0.0']],
  [
    '[::1]:8443, fe80::1c2b:3aff:fe4d:5e6f%en0, ::ffff:192.0.2.128',
    'ip_address',
    ['::1', 'fe80::1c2b:3aff:fe4d:5e6f', '::ffff:192.0.2.128'],
  ],
  [
    '2001:0db8:0000:0042:0000:8a2e:0370:7334',
    'ip_address',
    ['2001:0db8:0000:0042:0000:8a2e:0370:7334'],
  ],
  ['version 1.2.3.4, v2.0.0.1, firmware 2.1.0.3, section 3.2.1.4', 'ip_address', []],
  [
    'Chrome/120.0.0.0, OID 1.3.6.1.4.1.311, 256.1.1.1, 010.001.002.003, mask 255.255.255.0',
    'ip_address',
    [],
  ],
  ['std::vector, Foo::Bar, cafe::beef, 00:1A:2B:3C:4D:5E, 12:30:45', 'ip_address', []],
];

describe('detectPii', () => {
  it.each(cases)('%s → %s', (text, entity, expected) => {
    expect(found(text, entity)).toEqual(expected);
  });

  it('finds secrets by prefix and shape', () => {
    const keys = [
      'sk-proj-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXy4z',
      'sk-ant-api03-Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe',
      'ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789',
      'xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx',
      'AKIAIOSFODNN7EXAMPLE',
      'AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q',
      'sk_live_4eC39HqLyjWDarjtT1zdp7dc',
      `bk_tn_${'0123456789abcdefghjkmnpqrs'}_${'A'.repeat(20)}${'b1-_'.repeat(5)}xyz`,
    ];
    const text = keys.map((k, i) => `key ${i}: ${k}`).join('\n');
    expect(found(text, 'secret')).toEqual(keys);
  });

  it('finds a JWT only when its header decodes to JSON with alg', () => {
    const header = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
    const payload = Buffer.from('{"sub":"42"}').toString('base64url');
    const jwt = `${header}.${payload}.c2lnbmF0dXJlLWJ5dGVz`;
    const notJwt = `${Buffer.from('{"typ":"JWT"}').toString('base64url')}.${payload}.c2ln`;
    expect(found(`Bearer ${jwt}. And ${notJwt}`, 'secret')).toEqual([jwt]);
  });

  it('finds a PEM private key to its END line, or a cut-off one through its base64', () => {
    const key =
      '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nqwerty==\n-----END RSA PRIVATE KEY-----';
    expect(found(`key:\n${key}\nthanks`, 'secret')).toEqual([key]);
    const escaped = key.replaceAll('\n', '\\n');
    expect(found(`{"private_key": "${escaped}\\n"}`, 'secret')).toEqual([escaped]);
    expect(found('-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nBgkqhkiG9w0B', 'secret')).toEqual([
      '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADAN\nBgkqhkiG9w0B',
    ]);
    expect(
      found('-----BEGIN PUBLIC KEY-----\nMIIBIjANBg\n-----END PUBLIC KEY-----', 'secret'),
    ).toEqual([]);
  });

  it('ignores placeholders and publishable keys', () => {
    const text =
      'sk-... sk-xxxxxxxxxxxxxxxxxxxxxxxxxxxx sk-your-api-key-goes-here pk_live_51HxYzAbCdEfGhIjKlMn ghp_';
    expect(found(text, 'secret')).toEqual([]);
  });

  it('finds an AWS secret access key after its name', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    expect(found(`aws_secret_access_key = ${secret}`, 'secret')).toEqual([secret]);
    expect(found(`"SecretAccessKey": "${secret}"`, 'secret')).toEqual([secret]);
    expect(found(`checksum ${secret}`, 'secret')).toEqual([]);
  });

  it('resolves overlaps: secrets first, then the longer value', () => {
    const token = 'ghs_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
    const url = `https://x-access-token:${token}@github.com/acme/infra.git`;
    expect(detectPii(url).map((m) => [m.entity, m.value])).toEqual([['secret', token]]);
    // An IBAN whose digits also pass as a Mastercard number stays an IBAN.
    const portuguese = withIbanCheck('PT', withLuhnDigit('517346860841532') + '86422');
    expect(found(print(portuguese), 'payment_card')).toHaveLength(1);
    expect(detectPii(`pay ${print(portuguese)}`).map((m) => m.entity)).toEqual(['iban']);
    expect(detectPii(`card ${print(visa)}`).map((m) => m.entity)).toEqual(['payment_card']);
  });

  it('returns matches sorted by start with their offsets', () => {
    const text = 'a@b.co then 10.0.0.1';
    expect(detectPii(text)).toEqual([
      { entity: 'email', start: 0, end: 6, value: 'a@b.co' },
      { entity: 'ip_address', start: 12, end: 20, value: '10.0.0.1' },
    ]);
  });
});
