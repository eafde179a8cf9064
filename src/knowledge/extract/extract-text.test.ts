import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BkError } from '../../core/errors.ts';
import { extractText } from './extract-text.ts';

const fixture = (name: string) =>
  new Uint8Array(readFileSync(new URL(`./fixtures/${name}`, import.meta.url)));
const utf8 = (text: string) => new TextEncoder().encode(text);

async function validationError(promise: Promise<unknown>): Promise<BkError> {
  const error = await promise.then(
    () => null,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(BkError);
  expect((error as BkError).code).toBe('BK_VALIDATION_FAILED');
  return error as BkError;
}

describe('extractText: text and markdown', () => {
  it('keeps text as is, with LF line ends and without a byte order mark', async () => {
    const bytes = new Uint8Array([0xef, 0xbb, 0xbf, ...utf8('one\r\ntwo\rthree\n')]);
    expect(await extractText(bytes, 'text')).toEqual({
      text: 'one\ntwo\nthree\n',
      format: 'text',
      title: null,
    });
    expect((await extractText('\uFEFFcafé\r\n', 'text')).text).toBe('café\n');
  });

  it('refuses invalid UTF-8, NUL bytes and unpaired surrogates', async () => {
    expect(
      (await validationError(extractText(new Uint8Array([0x61, 0xff, 0x62]), 'text'))).message,
    ).toMatch(/not valid UTF-8/);
    expect((await validationError(extractText(utf8('a\0b'), 'markdown'))).message).toMatch(/NUL/);
    expect((await validationError(extractText('a\uD800b', 'text'))).message).toMatch(/surrogate/);
  });

  it('takes a Markdown title from the first top-level heading outside code', async () => {
    const markdown = '```sh\n# install\n```\n\n## Overview\n\n# Real Title #\n\nBody.';
    const document = await extractText(markdown, 'markdown');
    expect(document).toEqual({ text: markdown, format: 'markdown', title: 'Real Title' });
    expect((await extractText('Setext Title\n===\n\nBody.', 'markdown')).title).toBe(
      'Setext Title',
    );
    expect((await extractText('No headings here.', 'markdown')).title).toBeNull();
  });
});

describe('extractText: HTML', () => {
  it('keeps the structure as Markdown and drops scripts, styles and site chrome', async () => {
    const document = await extractText(fixture('guide.html'), 'html');
    expect(document.format).toBe('markdown');
    expect(document.title).toBe('Bulkhead & Tenants | Docs');
    expect(document.text).toBe(
      [
        '# Getting started',
        '',
        'Bulkhead keeps every tenant apart. Read the isolation guide before you begin.',
        '',
        '## Install',
        '',
        'Install the server first.',
        '',
        '- Download the release.',
        '- Unpack it.',
        '',
        '### On Linux',
        '',
        '```',
        'curl -fsSL https://example.com/install.sh | sh',
        'bulkhead serve',
        '```',
        '',
        '| Setting | Default |',
        '| --- | --- |',
        '| port | 8080 |',
        '| workers | 2 |',
      ].join('\n'),
    );
    expect(document.text).not.toMatch(/marker|script text|font-family|example\.com\/isolation/);
  });

  it('takes the title from the first h1 when there is no <title>', async () => {
    const html = '<p>Intro</p><h2>Sub</h2><h1>Main <em>heading</em></h1><h1>Second</h1>';
    const document = await extractText(html, 'html');
    expect(document.title).toBe('Main heading');
    expect(document.text).toBe('Intro\n\n## Sub\n\n# Main heading\n\n# Second');
  });

  it('writes a heading with line breaks on one line, and fences code that holds backticks', async () => {
    const html = '<h2>One<br>Two</h2><pre>a ``` b</pre>';
    expect((await extractText(html, 'html')).text).toBe('## One Two\n\n````\na ``` b\n````');
  });
});

describe('extractText: PDF', () => {
  it('reads the text of each page, the page count and the Title', async () => {
    const bytes = fixture('two-pages.pdf');
    const document = await extractText(bytes, 'pdf');
    expect(document).toEqual({
      text: [
        'Tenant Onboarding Guide',
        'The first page explains how a tenant is created.',
        'Every tenant receives its own encryption key.',
        '',
        'The second page covers quotas and budgets.',
        'Budgets reset at the start of each month.',
      ].join('\n'),
      format: 'text',
      title: 'Tenant Onboarding Guide',
      pages: 2,
    });
    // The caller's bytes are still theirs (pdf.js detaches the buffer it is given).
    expect(bytes.byteLength).toBeGreaterThan(0);
  });

  it('refuses a file that is not a PDF', async () => {
    const error = await validationError(extractText(fixture('not-a-pdf.pdf'), 'pdf'));
    expect(error.message).toBe('The file is not a readable PDF: Invalid PDF structure.');
  });

  it('refuses a corrupt PDF without leaving pdf.js rejections to end the process', async () => {
    // This file makes pdf.js abandon rejected promises; vitest fails a run that has any.
    const error = await validationError(extractText(fixture('corrupt.pdf'), 'pdf'));
    expect(error.message).toMatch(/^The file is not a readable PDF: /);
  });

  it('refuses a password-protected PDF', async () => {
    const error = await validationError(extractText(fixture('encrypted.pdf'), 'pdf'));
    expect(error.message).toBe('The file is not a readable PDF: it is encrypted with a password.');
  });

  it('refuses a PDF without a text layer, saying OCR is not supported', async () => {
    const error = await validationError(extractText(fixture('scanned.pdf'), 'pdf'));
    expect(error.message).toMatch(/no extractable text.*OCR is not supported/);
  });

  it('refuses a PDF sent as text', async () => {
    await validationError(extractText('%PDF-1.4', 'pdf'));
  });
});
