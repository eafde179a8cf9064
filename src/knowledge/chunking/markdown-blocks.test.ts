import { describe, expect, it } from 'vitest';
import { type Block, documentBlocks, markdownBlocks } from './markdown-blocks.ts';

function described(text: string, blocks: Iterable<Block>) {
  return [...blocks].map((block) => ({
    kind: block.kind,
    text: text.slice(block.start, block.end),
    ...(block.kind === 'heading' ? { level: block.level, title: block.title } : {}),
  }));
}

describe('markdownBlocks', () => {
  it('finds ATX headings, with closing hashes removed, and only where CommonMark has them', () => {
    const text =
      '# One #\n\n  ### Three ###  \n#hashtag\n    # indented code\n####### seven\n## C#';
    expect(described(text, markdownBlocks(text))).toEqual([
      { kind: 'heading', text: '# One #', level: 1, title: 'One' },
      { kind: 'heading', text: '### Three ###', level: 3, title: 'Three' },
      { kind: 'paragraph', text: '#hashtag\n    # indented code\n####### seven' },
      { kind: 'heading', text: '## C#', level: 2, title: 'C#' },
    ]);
  });

  it('finds setext headings, whose text is the paragraph above the underline', () => {
    const text = 'Main\ntitle\n=====\nBody text.\n\nSection\n---';
    expect(described(text, markdownBlocks(text))).toEqual([
      { kind: 'heading', text: 'Main\ntitle\n=====', level: 1, title: 'Main title' },
      { kind: 'paragraph', text: 'Body text.' },
      { kind: 'heading', text: 'Section\n---', level: 2, title: 'Section' },
    ]);
    const list = '- one\n- two\n---';
    expect(described(list, markdownBlocks(list))).toEqual([{ kind: 'paragraph', text: list }]);
  });

  it('keeps fenced code whole, blank lines and headings inside it included', () => {
    const text =
      'Intro\n```sh\n# comment\n\necho hi\n```\nAfter\n\n~~~~\n~~~\nstill code\n~~~~~\n\n```\nopen to the end\n\n# no heading';
    expect(described(text, markdownBlocks(text))).toEqual([
      { kind: 'paragraph', text: 'Intro' },
      { kind: 'code', text: '```sh\n# comment\n\necho hi\n```' },
      { kind: 'paragraph', text: 'After' },
      { kind: 'code', text: '~~~~\n~~~\nstill code\n~~~~~' },
      { kind: 'code', text: '```\nopen to the end\n\n# no heading' },
    ]);
  });

  it('tells tables from paragraphs', () => {
    const text =
      '| a | b |\n|---|:-:|\n| 1 | 2 |\n\na | b\n--|--\n1 | 2\n\n| row\n| row\n\nnot | a table\nat all';
    expect(described(text, markdownBlocks(text)).map((block) => block.kind)).toEqual([
      'table',
      'table',
      'table',
      'paragraph',
    ]);
  });

  it('keeps YAML front matter as one block rather than a setext heading', () => {
    const text = '---\ntitle: Notes\ntags: [a]\n---\n# Notes';
    expect(described(text, markdownBlocks(text))).toEqual([
      { kind: 'code', text: '---\ntitle: Notes\ntags: [a]\n---' },
      { kind: 'heading', text: '# Notes', level: 1, title: 'Notes' },
    ]);
  });
});

describe('documentBlocks for plain text', () => {
  it('has only paragraphs, split at blank lines', () => {
    const text = '  # not a heading\nline two\n \t\n\n```\nnot code\n';
    expect(described(text, documentBlocks(text, 'text'))).toEqual([
      { kind: 'paragraph', text: '# not a heading\nline two' },
      { kind: 'paragraph', text: '```\nnot code' },
    ]);
  });
});
