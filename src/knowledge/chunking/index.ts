export { type Chunk, type ChunkOptions, chunkDocument } from './chunk-document.ts';
