import { describe, expect, it } from 'vitest';
import { detectSourceType } from './source-type.ts';

describe('detectSourceType', () => {
  it.each([
    ['text/plain', 'text'],
    ['text/markdown', 'markdown'],
    ['text/x-markdown', 'markdown'],
    ['text/html; charset=utf-8', 'html'],
    ['application/xhtml+xml', 'html'],
    ['Application/PDF', 'pdf'],
  ] as const)('reads the content type %s as %s', (contentType, type) => {
    expect(detectSourceType({ contentType })).toBe(type);
  });

  it.each([
    ['notes.txt', 'text'],
    ['README.md', 'markdown'],
    ['guide.markdown', 'markdown'],
    ['index.html', 'html'],
    ['INDEX.HTM', 'html'],
    ['report.v2.pdf', 'pdf'],
  ] as const)('reads the filename %s as %s', (filename, type) => {
    expect(detectSourceType({ filename })).toBe(type);
  });

  it('prefers the declared type, then the content type, then the extension', () => {
    expect(
      detectSourceType({ declared: 'markdown', contentType: 'text/html', filename: 'a.pdf' }),
    ).toBe('markdown');
    expect(detectSourceType({ contentType: 'text/html', filename: 'a.pdf' })).toBe('html');
  });

  it('falls through hints that name nothing supported', () => {
    expect(
      detectSourceType({
        declared: 'docx',
        contentType: 'application/octet-stream',
        filename: 'a.md',
      }),
    ).toBe('markdown');
  });

  it('is null when no hint says', () => {
    expect(detectSourceType({})).toBeNull();
    expect(detectSourceType({ contentType: 'image/png', filename: 'README' })).toBeNull();
    expect(detectSourceType({ filename: 'archive.tar.gz' })).toBeNull();
  });
});
