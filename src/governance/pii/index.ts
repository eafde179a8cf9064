export { detectPii } from './detect.ts';
export {
  PII_ACTIONS,
  PII_ENTITIES,
  type PiiAction,
  type PiiEntity,
  type PiiMatch,
} from './entities.ts';
export { PiiRedactor, type RedactionResult } from './redactor.ts';
export { StreamingPiiRedactor } from './streaming.ts';
