export const SOURCE_TYPES = ['text', 'markdown', 'html', 'pdf'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

const BY_CONTENT_TYPE: ReadonlyMap<string, SourceType> = new Map([
  ['text/plain', 'text'],
  ['text/markdown', 'markdown'],
  ['text/x-markdown', 'markdown'],
  ['text/html', 'html'],
  ['application/xhtml+xml', 'html'],
  ['application/pdf', 'pdf'],
]);

const BY_EXTENSION: ReadonlyMap<string, SourceType> = new Map([
  ['txt', 'text'],
  ['md', 'markdown'],
  ['markdown', 'markdown'],
  ['html', 'html'],
  ['htm', 'html'],
  ['pdf', 'pdf'],
]);

/**
 * The first hint that names a supported type wins: the declared type, then the content type, then
 * the filename extension. A hint that names nothing we support (`application/octet-stream`, which
 * many upload clients send) falls through to the next. Null when no hint says.
 */
export function detectSourceType(hints: {
  declared?: string;
  contentType?: string;
  filename?: string;
}): SourceType | null {
  return (
    fromDeclared(hints.declared) ??
    fromContentType(hints.contentType) ??
    fromFilename(hints.filename)
  );
}

function fromDeclared(declared: string | undefined): SourceType | null {
  const name = declared?.trim().toLowerCase();
  return SOURCE_TYPES.find((type) => type === name) ?? null;
}

function fromContentType(contentType: string | undefined): SourceType | null {
  // Parameters such as "; charset=utf-8" do not change the type.
  const essence = contentType?.split(';', 1)[0]?.trim().toLowerCase();
  return essence === undefined ? null : (BY_CONTENT_TYPE.get(essence) ?? null);
}

function fromFilename(filename: string | undefined): SourceType | null {
  if (filename === undefined) return null;
  const dot = filename.lastIndexOf('.');
  return dot < 0 ? null : (BY_EXTENSION.get(filename.slice(dot + 1).toLowerCase()) ?? null);
}
