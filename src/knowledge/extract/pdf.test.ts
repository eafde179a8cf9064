import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { extractPdf } from './pdf.ts';

const bytes = new Uint8Array(readFileSync(new URL('./fixtures/two-pages.pdf', import.meta.url)));

describe('extractPdf', () => {
  it('gives up on a PDF that takes longer than the time limit', async () => {
    const error: unknown = await extractPdf(bytes, { timeoutMs: 1, maxHeapMb: 512 }).catch(
      (reason: unknown) => reason,
    );
    expect(error).toBeInstanceOf(BkError);
    expect((error as BkError).message).toMatch(/took longer than 0.001 s/);
  });
});
