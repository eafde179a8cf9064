import { BkError } from '../../core/errors.ts';
import { markdownBlocks } from '../chunking/markdown-blocks.ts';
import { htmlToMarkdown } from './html.ts';
import { extractPdf } from './pdf.ts';
import type { SourceType } from './source-type.ts';

export interface ExtractedDocument {
  /**
   * Plain text for chunking. Markdown and HTML keep their structure as Markdown headings (`# `,
   * `## ` …) and blank lines between blocks, so the chunker can respect it.
   */
  text: string;
  /** Markdown for markdown/html (headings kept), plain text otherwise. */
  format: 'markdown' | 'text';
  /** From <title>/first <h1>, the first Markdown `# ` heading, or the PDF's Title; null if none. */
  title: string | null;
  /** PDFs: the page count. */
  pages?: number;
}

export async function extractText(
  source: Uint8Array | string,
  type: SourceType,
): Promise<ExtractedDocument> {
  switch (type) {
    case 'text':
      return { text: decode(source), format: 'text', title: null };
    case 'markdown': {
      const text = decode(source);
      return { text, format: 'markdown', title: firstTopHeading(text) };
    }
    case 'html': {
      const { markdown, title } = htmlToMarkdown(decode(source));
      return { text: markdown, format: 'markdown', title: title ?? firstTopHeading(markdown) };
    }
    case 'pdf': {
      if (typeof source === 'string') {
        throw new BkError(
          'BK_VALIDATION_FAILED',
          'A PDF must be uploaded as a file, not sent as text.',
        );
      }
      const { text, title, pages } = await extractPdf(source);
      return { text, format: 'text', title, pages };
    }
  }
}

/** UTF-8 text with LF line ends and no byte order mark; NUL and invalid UTF-8 are refused. */
function decode(source: Uint8Array | string): string {
  let text: string;
  if (typeof source === 'string') {
    if (!source.isWellFormed()) {
      throw new BkError(
        'BK_VALIDATION_FAILED',
        'The document contains unpaired UTF-16 surrogates.',
      );
    }
    text = source.startsWith('\uFEFF') ? source.slice(1) : source;
  } else {
    try {
      // Drops a leading byte order mark.
      text = new TextDecoder('utf-8', { fatal: true }).decode(source);
    } catch (error) {
      throw new BkError('BK_VALIDATION_FAILED', 'The document is not valid UTF-8 text.', {
        cause: error,
      });
    }
  }
  if (text.includes('\0')) {
    throw new BkError('BK_VALIDATION_FAILED', 'The document contains NUL bytes; it is not text.');
  }
  return text.replace(/\r\n?/g, '\n');
}

function firstTopHeading(markdown: string): string | null {
  for (const block of markdownBlocks(markdown)) {
    if (block.kind === 'heading' && block.level === 1 && block.title !== '') return block.title;
  }
  return null;
}
