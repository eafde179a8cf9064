export { type ExtractedDocument, extractText } from './extract-text.ts';
export { detectSourceType, SOURCE_TYPES, type SourceType } from './source-type.ts';
