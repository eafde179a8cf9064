export { type ExtractedDocument, extractText } from './extract-text.ts';
export { detectSourceType, type SourceType } from './source-type.ts';
