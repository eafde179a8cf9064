import { compile, type DomNode, type FormatCallback, type RecursiveCallback } from 'html-to-text';

type BlockTextBuilder = Parameters<FormatCallback>[2];

/** Elements whose text is not the document's: code, styling, site chrome, drawings, the head. */
const DROPPED = [
  'script',
  'style',
  'noscript',
  'template',
  'svg',
  'nav',
  'header',
  'footer',
  'head',
  'title',
];

const markdownHeading: FormatCallback = (elem, walk, builder) => {
  const level = Number(elem.name?.slice(1));
  builder.openBlock({ leadingLineBreaks: 2 });
  walk(elem.children, builder);
  builder.closeBlock({
    trailingLineBreaks: 2,
    // A heading is one line in Markdown, whatever <br>s it held.
    blockTransform: (text) => {
      const line = text.replace(/\s+/g, ' ').trim();
      return line === '' ? '' : `${'#'.repeat(level)} ${line}`;
    },
  });
};

const fencedCode: FormatCallback = (elem, walk, builder) => {
  builder.openBlock({ isPre: true, leadingLineBreaks: 2 });
  walk(elem.children, builder);
  builder.closeBlock({
    trailingLineBreaks: 2,
    blockTransform: (code) => {
      const longestRun = Math.max(0, ...(code.match(/`+/g) ?? []).map((run) => run.length));
      const fence = '`'.repeat(Math.max(3, longestRun + 1));
      return `${fence}\n${code}\n${fence}`;
    },
  });
};

/** Tables become Markdown tables: one line per row, cells separated by pipes. */
const markdownTable: FormatCallback = (elem, walk, builder) => {
  builder.openTable();
  for (const child of elem.children) addRows(child, walk, builder);
  builder.closeTable({
    leadingLineBreaks: 2,
    trailingLineBreaks: 2,
    tableToString: (rows) => {
      const lines = rows
        .filter((cells) => cells.length > 0)
        .map((cells) =>
          cells.map((cell) => cell.text.replace(/\s+/g, ' ').trim().replace(/\|/g, '\\|')),
        );
      const [header, ...body] = lines;
      if (header === undefined) return '';
      const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
      return [row(header), row(header.map(() => '---')), ...body.map(row)].join('\n');
    },
  });
};

function addRows(node: DomNode, walk: RecursiveCallback, builder: BlockTextBuilder): void {
  if (node.type !== 'tag') return;
  if (node.name === 'thead' || node.name === 'tbody' || node.name === 'tfoot') {
    for (const child of node.children) addRows(child, walk, builder);
    return;
  }
  if (node.name !== 'tr') return;
  builder.openTableRow();
  for (const cell of node.children) {
    if (cell.type !== 'tag' || (cell.name !== 'td' && cell.name !== 'th')) continue;
    builder.openTableCell();
    walk(cell.children, builder);
    builder.closeTableCell();
  }
  builder.closeTableRow();
}

const toMarkdown = compile({
  wordwrap: false,
  formatters: { markdownHeading, fencedCode, markdownTable },
  selectors: [
    ...['h1', 'h2', 'h3', 'h4', 'h5', 'h6'].map((selector) => ({
      selector,
      format: 'markdownHeading',
    })),
    ...DROPPED.map((selector) => ({ selector, format: 'skip' })),
    { selector: 'a', options: { ignoreHref: true } },
    { selector: 'img', format: 'skip' },
    { selector: 'hr', format: 'skip' },
    { selector: 'pre', format: 'fencedCode' },
    { selector: 'table', format: 'markdownTable' },
    { selector: 'ul', options: { itemPrefix: '- ' } },
  ],
});

const titleText = compile({
  wordwrap: false,
  baseElements: { selectors: ['title'], returnDomByDefault: false },
});

export function htmlToMarkdown(html: string): { markdown: string; title: string | null } {
  const title = titleText(html).replace(/\s+/g, ' ').trim();
  return { markdown: toMarkdown(html).trim(), title: title === '' ? null : title };
}
