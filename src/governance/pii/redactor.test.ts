import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { PiiRedactor } from './redactor.ts';

describe('PiiRedactor', () => {
  it('numbers placeholders per entity across the texts of a request, one per value', () => {
    const redactor = new PiiRedactor({ email: 'redact', phone: 'redact', ip_address: 'redact' });
    const first = redactor.redact(
      'Ann <ann@example.com>, Bob <bob@example.com>, call (415) 555-0132',
    );
    expect(first.text).toBe('Ann <[EMAIL_1]>, Bob <[EMAIL_2]>, call [PHONE_1]');
    expect(first.found).toEqual({ email: 2, phone: 1 });
    expect(first.blocked).toEqual([]);

    const second = redactor.redact(
      'Reply to ANN@EXAMPLE.COM, not carol@example.com, from 10.0.0.1',
    );
    expect(second.text).toBe('Reply to [EMAIL_1], not [EMAIL_3], from [IP_ADDRESS_1]');
  });

  it('treats the written forms of one value as one value', () => {
    const redactor = new PiiRedactor({ payment_card: 'redact', iban: 'redact' });
    const { text } = redactor.redact(
      '4111 1111 1111 1111 = 4111-1111-1111-1111; DE89 3704 0044 0532 0130 00 = DE89370400440532013000',
    );
    expect(text).toBe('[PAYMENT_CARD_1] = [PAYMENT_CARD_1]; [IBAN_1] = [IBAN_1]');
  });

  it('uses one placeholder name per entity', () => {
    const redactor = new PiiRedactor({
      email: 'redact',
      phone: 'redact',
      payment_card: 'redact',
      iban: 'redact',
      us_ssn: 'redact',
      ip_address: 'redact',
      secret: 'redact',
    });
    const { text } = redactor.redact(
      'a@b.co +44 20 7946 0958 4111111111111111 GB29NWBK60161331926819 536-22-8714 ::1 AKIAIOSFODNN7EXAMPLE',
    );
    expect(text).toBe(
      '[EMAIL_1] [PHONE_1] [PAYMENT_CARD_1] [IBAN_1] [US_SSN_1] [IP_ADDRESS_1] [SECRET_1]',
    );
  });

  it('leaves allowed entities alone, and still lets them win overlaps', () => {
    const redactor = new PiiRedactor({ phone: 'redact', email: 'allow' });
    const result = redactor.redact('card 4111 1111 1111 1111, mail a@b.co, phone 020 7946 0958');
    expect(result.text).toBe('card 4111 1111 1111 1111, mail a@b.co, phone [PHONE_1]');
    expect(result.found).toEqual({ phone: 1 });
  });

  it('reports blocked entities without throwing, and redacts them too', () => {
    const redactor = new PiiRedactor({ secret: 'block', email: 'redact' });
    const result = redactor.redact('key ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 from a@b.co');
    expect(result.blocked).toEqual(['secret']);
    expect(result.text).toBe('key [SECRET_1] from [EMAIL_1]');
  });

  it('shares the numbering with a redactor for other actions', () => {
    const input = new PiiRedactor({ email: 'redact' });
    expect(input.redact('from x@example.com').text).toBe('from [EMAIL_1]');
    const output = input.withActions({ email: 'redact', phone: 'block' });
    const result = output.redact('wrote to y@example.com and x@example.com, 020 7946 0958');
    expect(result.text).toBe('wrote to [EMAIL_2] and [EMAIL_1], [PHONE_1]');
    expect(result.blocked).toEqual(['phone']);
    expect(input.redact('y@example.com').text).toBe('[EMAIL_2]');
  });

  it('returns the text untouched when every entity is allowed', () => {
    const text = 'a@b.co 4111 1111 1111 1111';
    expect(new PiiRedactor({}).redact(text)).toEqual({ text, found: {}, blocked: [] });
  });

  it('refuses unknown entities and actions', () => {
    expect(() => new PiiRedactor({ passport: 'redact' } as never)).toThrow(BkError);
    expect(() => new PiiRedactor({ email: 'mask' } as never)).toThrow(/Unknown PII action/);
  });
});
