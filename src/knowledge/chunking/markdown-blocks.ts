/**
 * The block structure of a document, as spans of its text: what chunking must not cut through
 * carelessly. Markdown follows CommonMark where it matters for that: ATX and setext headings,
 * fenced code (a fence left open runs to the end), and headings inside fences are code.
 */
export type Block =
  | { kind: 'heading'; level: number; title: string; start: number; end: number }
  | { kind: 'paragraph' | 'code' | 'table'; start: number; end: number };

interface Line {
  start: number;
  text: string;
}

const ATX_HEADING = /^ {0,3}(#{1,6})(?:[ \t]+(.*))?$/;
const SETEXT_UNDERLINE = /^ {0,3}(=+|-+)[ \t]*$/;
const FENCE_OPEN = /^ {0,3}(`{3,}(?=[^`]*$)|~{3,})/;
const FENCE_CLOSE = /^ {0,3}(`{3,}|~{3,})[ \t]*$/;
// A "---" under a list or quote is a thematic break, not a heading underline.
const LIST_OR_QUOTE = /^ {0,3}(?:[-*+][ \t]|\d{1,9}[.)][ \t]|>)/;
const TABLE_DELIMITER_ROW = /^ {0,3}\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;

export function* documentBlocks(text: string, format: 'markdown' | 'text'): Generator<Block> {
  yield* format === 'markdown' ? markdownBlocks(text) : paragraphs(text);
}

/** Plain text: paragraphs separated by blank lines. */
function* paragraphs(text: string): Generator<Block> {
  let open: Line[] = [];
  for (const line of lines(text)) {
    if (isBlank(line.text)) {
      if (open.length > 0) yield { kind: 'paragraph', ...span(open) };
      open = [];
    } else {
      open.push(line);
    }
  }
  if (open.length > 0) yield { kind: 'paragraph', ...span(open) };
}

export function* markdownBlocks(text: string): Generator<Block> {
  let paragraph: Line[] = [];
  let fence: { lines: Line[]; marker: string } | null = null;
  const frontMatterEnd = frontMatterLength(text);
  if (frontMatterEnd > 0)
    yield { kind: 'code', start: 0, end: trimmedEnd(text, 0, frontMatterEnd) };

  for (const line of lines(text, frontMatterEnd)) {
    if (fence !== null) {
      fence.lines.push(line);
      const close = FENCE_CLOSE.exec(line.text)?.[1];
      if (
        close !== undefined &&
        close[0] === fence.marker[0] &&
        close.length >= fence.marker.length
      ) {
        yield { kind: 'code', ...span(fence.lines) };
        fence = null;
      }
      continue;
    }
    const opening = FENCE_OPEN.exec(line.text)?.[1];
    const atx = ATX_HEADING.exec(line.text);
    const underline = SETEXT_UNDERLINE.exec(line.text)?.[1];
    if (opening !== undefined || atx !== null || isBlank(line.text)) {
      if (paragraph.length > 0) yield paragraphBlock(paragraph);
      paragraph = [];
    }
    if (opening !== undefined) {
      fence = { lines: [line], marker: opening };
    } else if (atx !== null) {
      const title = (atx[2] ?? '').replace(/(?:^|[ \t]+)#+[ \t]*$/, '').trim();
      yield { kind: 'heading', level: atx[1]?.length ?? 1, title, ...span([line]) };
    } else if (underline !== undefined && isSetextText(paragraph)) {
      const title = paragraph.map((l) => l.text.trim()).join(' ');
      const level = underline.startsWith('=') ? 1 : 2;
      yield { kind: 'heading', level, title, ...span([...paragraph, line]) };
      paragraph = [];
    } else if (!isBlank(line.text)) {
      paragraph.push(line);
    }
  }
  if (fence !== null) yield { kind: 'code', ...span(fence.lines) };
  if (paragraph.length > 0) yield paragraphBlock(paragraph);
}

/** A YAML front matter block: `---` on the first line, closed by `---` or `...`. */
function frontMatterLength(text: string): number {
  const match = /^---[ \t]*\n[^]*?\n(?:---|\.\.\.)[ \t]*(?:\n|$)/.exec(text);
  return match?.[0].length ?? 0;
}

function paragraphBlock(paragraph: Line[]): Block {
  return { kind: isTable(paragraph) ? 'table' : 'paragraph', ...span(paragraph) };
}

function isSetextText(paragraph: Line[]): boolean {
  return (
    paragraph.length > 0 &&
    !isTable(paragraph) &&
    !paragraph.some((line) => LIST_OR_QUOTE.test(line.text))
  );
}

function isTable(paragraph: Line[]): boolean {
  const second = paragraph[1];
  if (second !== undefined && TABLE_DELIMITER_ROW.test(second.text) && second.text.includes('|')) {
    return true;
  }
  return paragraph.every((line) => line.text.trimStart().startsWith('|'));
}

/** From the first to the last non-whitespace character of the lines. */
function span(block: Line[]): { start: number; end: number } {
  const first = block[0];
  const last = block[block.length - 1];
  if (first === undefined || last === undefined) throw new Error('A block has at least one line.');
  return {
    start: first.start + (first.text.length - first.text.trimStart().length),
    end: last.start + last.text.trimEnd().length,
  };
}

function* lines(text: string, from = 0): Generator<Line> {
  let start = from;
  while (start < text.length) {
    const newline = text.indexOf('\n', start);
    const end = newline < 0 ? text.length : newline;
    yield { start, text: text.slice(start, end) };
    start = end + 1;
  }
}

function trimmedEnd(text: string, start: number, end: number): number {
  return start + text.slice(start, end).trimEnd().length;
}

function isBlank(line: string): boolean {
  return line.trim() === '';
}
