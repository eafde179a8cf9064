import { describe, expect, it } from 'vitest';
import { ibanChecksumValid, luhnValid } from './checksums.ts';
import { formatQualityTable, readLabelledSet, scorePii } from './quality.ts';

describe('labelled PII set', () => {
  const samples = readLabelledSet();

  it('is large, and mostly made of hard cases', () => {
    expect(samples.length).toBeGreaterThanOrEqual(350);
    const negatives = samples.filter((s) => s.entities.length === 0).length;
    expect(negatives / samples.length).toBeGreaterThanOrEqual(0.4);
  });

  it('labels only values that occur in their text, with valid check digits', () => {
    for (const { text, entities } of samples) {
      for (const { entity, value } of entities) {
        expect(text, value).toContain(value);
        if (entity === 'payment_card')
          expect(luhnValid(value.replace(/\D/g, '')), value).toBe(true);
        if (entity === 'iban')
          expect(ibanChecksumValid(value.replace(/\s/g, '').toUpperCase()), value).toBe(true);
      }
    }
  });

  it('is detected with precision ≥ 0.95 and recall ≥ 0.9 for every entity', () => {
    const report = scorePii(samples);
    const table = formatQualityTable(report);
    for (const score of report.scores) {
      expect(score.precision, table).toBeGreaterThanOrEqual(0.95);
      expect(score.recall, table).toBeGreaterThanOrEqual(0.9);
    }
  });
});

describe('scorePii', () => {
  it('counts a match as a true positive only for the same entity and normalised value', () => {
    const report = scorePii(
      [
        {
          text: 'x',
          entities: [
            { entity: 'email', value: 'a@b.co' },
            { entity: 'phone', value: '+44 20\u00a07946  0958' },
            { entity: 'iban', value: 'GB29 NWBK 6016 1331 9268 19' },
          ],
        },
      ],
      () => [
        { entity: 'email', start: 0, end: 0, value: 'a@b.co' },
        { entity: 'phone', start: 0, end: 0, value: '+44 20 7946 0958' },
        { entity: 'iban', start: 0, end: 0, value: 'GB29NWBK60161331926819' },
        { entity: 'secret', start: 0, end: 0, value: 'sk-1' },
      ],
    );
    const byEntity = Object.fromEntries(report.scores.map((s) => [s.entity, s]));
    expect(byEntity.email).toMatchObject({ tp: 1, fp: 0, fn: 0 });
    expect(byEntity.phone).toMatchObject({ tp: 1, fp: 0, fn: 0 });
    expect(byEntity.iban).toMatchObject({ tp: 0, fp: 1, fn: 1, precision: 0, recall: 0 });
    expect(byEntity.secret).toMatchObject({ tp: 0, fp: 1, fn: 0, recall: 1 });
    expect(byEntity.total).toMatchObject({ tp: 2, fp: 2, fn: 1, precision: 0.5 });
  });
});
