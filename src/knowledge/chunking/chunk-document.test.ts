import { countTokens } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { type Chunk, type ChunkOptions, chunkDocument } from './chunk-document.ts';

/** The guarantees every chunking keeps, checked on every test document. */
function checked(text: string, options: ChunkOptions): Chunk[] {
  const chunks = chunkDocument(text, options);
  const covered = new Uint8Array(text.length);
  chunks.forEach((chunk, index) => {
    expect(chunk.position).toBe(index);
    expect(chunk.content).toBe(text.slice(chunk.startChar, chunk.endChar));
    expect(chunk.tokens).toBe(countTokens(chunk.content));
    expect(chunk.tokens).toBeLessThanOrEqual(options.maxTokens);
    covered.fill(1, chunk.startChar, chunk.endChar);
  });
  for (let i = 0; i < text.length; i++) {
    if (covered[i] === 0 && /\S/.test(text[i] ?? '')) {
      throw new Error(`Character ${i} (${JSON.stringify(text.slice(i, i + 20))}) is in no chunk.`);
    }
  }
  return chunks;
}

/** The text two consecutive chunks share, '' when they share none. */
function sharedText(text: string, before: Chunk, after: Chunk): string {
  return after.startChar < before.endChar ? text.slice(after.startChar, before.endChar) : '';
}

function sentences(count: number, topic = 'tenant'): string {
  return Array.from(
    { length: count },
    (_, i) => `Sentence ${i} says that every ${topic} keeps its own keys and quotas.`,
  ).join(' ');
}

const markdown = (maxTokens: number, overlapTokens = 0): ChunkOptions => ({
  format: 'markdown',
  maxTokens,
  overlapTokens,
});
const plain = (maxTokens: number, overlapTokens = 0): ChunkOptions => ({
  format: 'text',
  maxTokens,
  overlapTokens,
});

describe('chunkDocument', () => {
  it('gives no chunks for empty or blank text', () => {
    expect(chunkDocument('', markdown(100))).toEqual([]);
    expect(chunkDocument(' \n\t\n  ', plain(100))).toEqual([]);
  });

  it('keeps a short document as one chunk', () => {
    const text = '\n\nOne paragraph.\n\nAnother one.\n';
    expect(checked(text, plain(100))).toEqual([
      {
        position: 0,
        content: 'One paragraph.\n\nAnother one.',
        heading: null,
        startChar: 2,
        endChar: 30,
        tokens: countTokens('One paragraph.\n\nAnother one.'),
      },
    ]);
  });

  it('packs plain text without headings by paragraph, then by sentence', () => {
    const paragraphs = [sentences(3, 'key'), sentences(3, 'team'), sentences(40, 'user')];
    const text = paragraphs.join('\n\n');
    const chunks = checked(text, plain(120));
    expect(chunks.every((chunk) => chunk.heading === null)).toBe(true);
    // The first two paragraphs fit together; the third, too long for one chunk, starts the next
    // and is cut between sentences.
    expect(chunks[0]?.content).toBe(`${paragraphs[0]}\n\n${paragraphs[1]}`);
    for (const chunk of chunks) expect(chunk.content).toMatch(/^Sentence \d+ .*quotas\.$/s);
  });

  it('gives each chunk the heading path of its section', () => {
    const text = [
      'Preamble.',
      '# Install',
      'Get it.',
      '## On Linux',
      'Use apt.',
      '### Debian',
      'Use apt-get.',
      '## On macOS',
      'Use brew.',
      '# Configure',
      'Set it up.',
    ].join('\n\n');
    const chunks = checked(text, markdown(200));
    expect(chunks.map((chunk) => [chunk.heading, chunk.content])).toEqual([
      [null, 'Preamble.'],
      ['Install', '# Install\n\nGet it.'],
      ['Install > On Linux', '## On Linux\n\nUse apt.'],
      ['Install > On Linux > Debian', '### Debian\n\nUse apt-get.'],
      ['Install > On macOS', '## On macOS\n\nUse brew.'],
      ['Configure', '# Configure\n\nSet it up.'],
    ]);
  });

  it('never lets a chunk span two sections, and opens each section with its heading', () => {
    const sectionsText = ['Alpha', 'Beta', 'Gamma'].map(
      (name, i) => `## ${name}\n\n${sentences(4 + i * 6, name.toLowerCase())}`,
    );
    const text = sectionsText.join('\n\n');
    const chunks = checked(text, markdown(60, 15));
    let offset = 0;
    const ranges = sectionsText.map((section) => {
      const start = text.indexOf(section, offset);
      offset = start + section.length;
      return { start, end: offset };
    });
    for (const chunk of chunks) {
      const index = ranges.findIndex((r) => chunk.startChar >= r.start && chunk.endChar <= r.end);
      expect(index).toBeGreaterThanOrEqual(0);
      expect(chunk.heading).toBe(['Alpha', 'Beta', 'Gamma'][index]);
    }
    for (const name of ['Alpha', 'Beta', 'Gamma']) {
      const first = chunks.find((chunk) => chunk.heading === name);
      expect(first?.content.startsWith(`## ${name}\n\n`)).toBe(true);
      expect(chunks.filter((chunk) => chunk.content.includes(`## ${name}`))).toHaveLength(1);
    }
  });

  it('opens each chunk after the first in a section with whole trailing sentences, within the overlap', () => {
    // Hard-wrapped lines: a line break inside a sentence does not end it.
    const text = sentences(30).replace(/ (every|quotas)/g, '\n$1');
    const chunks = checked(text, plain(80, 30));
    expect(chunks.length).toBeGreaterThan(3);
    for (let i = 1; i < chunks.length; i++) {
      const before = chunks[i - 1] as Chunk;
      const after = chunks[i] as Chunk;
      const shared = sharedText(text, before, after);
      expect(shared).toMatch(/^Sentence \d+ .*quotas\.$/s);
      expect(countTokens(shared)).toBeLessThanOrEqual(30);
      expect(after.endChar).toBeGreaterThan(before.endChar);
    }
  });

  it('has no overlap when overlapTokens is 0, nor across sections', () => {
    const text = sentences(30);
    const chunks = checked(text, plain(80, 0));
    for (let i = 1; i < chunks.length; i++) {
      expect(sharedText(text, chunks[i - 1] as Chunk, chunks[i] as Chunk)).toBe('');
    }
    const twoSections = `# A\n\n${sentences(3)}\n\n# B\n\n${sentences(3)}`;
    const [first, second] = checked(twoSections, markdown(200, 50));
    expect(first?.endChar).toBeLessThan(second?.startChar ?? 0);
  });

  it('does not repeat code or table lines as overlap', () => {
    const text = `${sentences(2)}\n\n\`\`\`\n${'console.log(1);\n'.repeat(40)}\`\`\`\n\nAfter the code.`;
    const chunks = checked(text, markdown(60, 30));
    for (let i = 1; i < chunks.length; i++) {
      const shared = sharedText(text, chunks[i - 1] as Chunk, chunks[i] as Chunk);
      expect(shared).not.toContain('console.log');
    }
  });

  it('keeps a fenced code block whole when it fits a chunk', () => {
    const code =
      '```ts\n// setup\n\nconst tenant = await createTenant({ name: "acme" });\nawait tenant.seal();\n```';
    const text = `## Setup\n\n${sentences(5)}\n\n${code}\n\nThat is all.`;
    const chunks = checked(text, markdown(100));
    const holding = chunks.filter((chunk) => chunk.content.includes('createTenant'));
    expect(holding).toHaveLength(1);
    expect(holding[0]?.content).toContain(code);
  });

  it('cuts a code block bigger than a chunk between lines', () => {
    const lines = Array.from({ length: 60 }, (_, i) => `  line_${i} = compute(${i});`);
    const text = `\`\`\`python\n${lines.join('\n')}\n\`\`\``;
    const chunks = checked(text, markdown(100));
    expect(chunks.length).toBeGreaterThan(1);
    for (const chunk of chunks.slice(1))
      expect(chunk.content).toMatch(/^ {2}line_\d+ = compute\(\d+\);/);
  });

  it('keeps a table whole when it fits', () => {
    const table = [
      '| key | value |',
      '| --- | --- |',
      ...Array.from({ length: 6 }, (_, i) => `| k${i} | v${i} |`),
    ].join('\n');
    const text = `${sentences(6)}\n\n${table}`;
    const chunks = checked(text, markdown(90));
    expect(chunks.filter((chunk) => chunk.content.includes('| k'))).toEqual([
      expect.objectContaining({ content: table }),
    ]);
  });

  it('splits CJK text without spaces at sentence ends, and at words when it has none', () => {
    const chinese =
      '每个租户都有自己的密钥和配额。数据在存储之前会被加密！管理员可以查看审计日志吗？'.repeat(20);
    const withStops = checked(chinese, plain(50));
    expect(withStops.length).toBeGreaterThan(1);
    for (const chunk of withStops) expect(chunk.content).toMatch(/[。！？]$/);

    const withoutStops =
      '每个租户都有自己的密钥和配额数据在存储之前会被加密管理员可以查看审计日志'.repeat(30);
    expect(checked(withoutStops, plain(40)).length).toBeGreaterThan(1);
  });

  it('cuts a word longer than a chunk into slices rather than exceeding maxTokens', () => {
    const blob = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODkw'.repeat(60);
    const text = `Attachment: ${blob} (end)`;
    const chunks = checked(text, plain(64));
    expect(chunks.length).toBeGreaterThan(5);
    expect(chunks.slice(1, -1).every((chunk) => blob.includes(chunk.content))).toBe(true);
    const letters = 'a'.repeat(20_000);
    expect(
      checked(letters, plain(30))
        .map((chunk) => chunk.content)
        .join(''),
    ).toBe(letters);
  });

  it('ends a chunk at a very long whitespace run rather than holding it', () => {
    // Counting a run of spaces takes time quadratic in its length; this one would fit a chunk.
    const text = `Before the gap.${' '.repeat(20_000)}After the gap.`;
    const chunks = checked(text, plain(1000));
    expect(chunks.map((chunk) => chunk.content)).toEqual(['Before the gap.', 'After the gap.']);
  });

  it('is deterministic', () => {
    const text = `# T\n\n${sentences(40)}\n\n## U\n\n${sentences(10)}`;
    expect(chunkDocument(text, markdown(70, 20))).toEqual(chunkDocument(text, markdown(70, 20)));
  });

  it('refuses options it cannot honour', () => {
    expect(() => chunkDocument('x', markdown(0))).toThrow(RangeError);
    expect(() => chunkDocument('x', markdown(10.5))).toThrow(RangeError);
    expect(() => chunkDocument('x', markdown(10, 10))).toThrow(RangeError);
    expect(() => chunkDocument('x', markdown(10, -1))).toThrow(RangeError);
  });

  it('chunks a 1 MB Markdown document', () => {
    const section = (i: number) =>
      [
        `## Part ${i}`,
        sentences(12, `tenant ${i}`),
        `- first item of ${i}\n- second item of ${i}`,
        '```js\n' + `const part = ${i};\nconsole.log(part);\n` + '```',
        '| a | b |\n| - | - |\n' + `| ${i} | ${i * 2} |`,
      ].join('\n\n');
    const parts: string[] = ['# Handbook'];
    for (let i = 0, size = 0; size < 1_000_000; i++) {
      parts.push(section(i));
      size += parts[parts.length - 1]?.length ?? 0;
    }
    const text = parts.join('\n\n');
    const chunks = checked(text, markdown(512, 64));
    expect(chunks.length).toBeGreaterThan(1000);
  });
});
