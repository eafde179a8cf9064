import { type Block, documentBlocks } from './markdown-blocks.ts';
import { packSection, spanText } from './pack.ts';
import { englishSegmenters, sectionUnits } from './units.ts';

export interface Chunk {
  /** 0-based order in the document. */
  position: number;
  /** A verbatim span of the text: `text.slice(startChar, endChar)`. */
  content: string;
  /** The heading path of its section, e.g. "Install > On Linux"; null before any heading. */
  heading: string | null;
  startChar: number;
  endChar: number;
  /** gpt-tokenizer (o200k) count of `content`. */
  tokens: number;
}

export interface ChunkOptions {
  format: 'markdown' | 'text';
  maxTokens: number;
  /** Tokens of trailing whole sentences each chunk repeats from the one before (same section). */
  overlapTokens: number;
}

interface Section {
  heading: string | null;
  blocks: Block[];
}

/**
 * Splits a document into chunks of at most `maxTokens` tokens, structure first: sections by
 * heading (never merged), then blocks (paragraphs, code blocks and tables, kept whole when they
 * fit), then sentences, and only for a sentence too long for a chunk, short runs of its words
 * (long words sliced). A chunk can exceed `maxTokens` only when `maxTokens` is below 4, the most
 * tokens one character can take.
 */
export function chunkDocument(text: string, options: ChunkOptions): Chunk[] {
  const { maxTokens, overlapTokens } = options;
  if (!Number.isInteger(maxTokens) || maxTokens < 1) {
    throw new RangeError(`maxTokens must be a positive integer, not ${maxTokens}.`);
  }
  if (!Number.isInteger(overlapTokens) || overlapTokens < 0 || overlapTokens >= maxTokens) {
    throw new RangeError(
      `overlapTokens must be an integer from 0 to maxTokens - 1, not ${overlapTokens}.`,
    );
  }
  const segmenters = englishSegmenters();
  const chunks: Chunk[] = [];
  for (const section of sections(text, options.format)) {
    const { units, groups } = sectionUnits(text, section.blocks, maxTokens, segmenters);
    for (const span of packSection(text, units, groups, options)) {
      const content = spanText(text, units, span.first, span.end);
      const startChar = units[span.first]?.start ?? 0;
      chunks.push({
        position: chunks.length,
        content,
        heading: section.heading,
        startChar,
        endChar: startChar + content.length,
        tokens: span.tokens,
      });
    }
  }
  return chunks;
}

function* sections(text: string, format: 'markdown' | 'text'): Generator<Section> {
  const path: { level: number; title: string }[] = [];
  let section: Section = { heading: null, blocks: [] };
  for (const block of documentBlocks(text, format)) {
    if (block.kind === 'heading') {
      if (section.blocks.length > 0) yield section;
      while ((path[path.length - 1]?.level ?? 0) >= block.level) path.pop();
      path.push({ level: block.level, title: block.title });
      const titles = path.map((entry) => entry.title).filter((title) => title !== '');
      section = { heading: titles.length > 0 ? titles.join(' > ') : null, blocks: [] };
    }
    section.blocks.push(block);
  }
  if (section.blocks.length > 0) yield section;
}
