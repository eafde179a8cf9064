import { Worker } from 'node:worker_threads';
import { BkError } from '../../core/errors.ts';

export interface PdfText {
  /** Each page's text, pages separated by a blank line. */
  text: string;
  title: string | null;
  pages: number;
}

export interface PdfLimits {
  timeoutMs: number;
  maxHeapMb: number;
}

const DEFAULT_LIMITS: PdfLimits = { timeoutMs: 60_000, maxHeapMb: 512 };

type WorkerResult =
  | { kind: 'parsed'; title: unknown; pages: number; pageTexts: string[] }
  | { kind: 'encrypted' }
  | { kind: 'unreadable'; reason: string };

/**
 * PDFs are read in a worker thread. pdf.js runs in the thread that calls it, so a large file would
 * stall the server's event loop; and on some corrupt files it leaves rejected promises with no
 * handler (its page-tree walk prefetches kids into a cache and abandons them when it throws),
 * which would end the server's process. The worker ignores those: the failure they stand for also
 * reaches the call that caused it, and in this thread every such failure is the file's.
 *
 * The worker is plain JavaScript because loading pdf.js through tsx's loader takes seconds.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
import(workerData.pdfParse).then(async ({ PDFParse, PasswordException }) => {
  process.on('unhandledRejection', () => {});
  const parser = new PDFParse({ data: workerData.bytes });
  try {
    const info = await parser.getInfo();
    const { pages } = await parser.getText();
    parentPort.postMessage({
      kind: 'parsed',
      title: info.info?.Title,
      pages: info.total,
      pageTexts: pages.map((page) => page.text),
    });
  } catch (error) {
    parentPort.postMessage(error instanceof PasswordException
      ? { kind: 'encrypted' }
      : { kind: 'unreadable', reason: String(error?.message ?? error) });
  } finally {
    await parser.destroy();
  }
});
`;

export async function extractPdf(
  bytes: Uint8Array,
  limits: PdfLimits = DEFAULT_LIMITS,
): Promise<PdfText> {
  const result = await readInWorker(bytes, limits);
  if (result.kind === 'encrypted') throw unreadable('it is encrypted with a password.');
  if (result.kind === 'unreadable') throw unreadable(result.reason);
  const text = result.pageTexts
    .map(normalisePageText)
    .filter((page) => page !== '')
    .join('\n\n');
  if (text === '') {
    throw new BkError(
      'BK_VALIDATION_FAILED',
      'The PDF has no extractable text; it may be scanned images, and OCR is not supported.',
    );
  }
  const title = typeof result.title === 'string' ? result.title.trim() : '';
  return { text, title: title === '' ? null : title, pages: result.pages };
}

function normalisePageText(text: string): string {
  // Some fonts map glyphs to NUL, which carries no text and which PostgreSQL text refuses.
  return text.replace(/\r\n?/g, '\n').replaceAll('\0', '').trim();
}

function unreadable(reason: string): BkError {
  return new BkError('BK_VALIDATION_FAILED', `The file is not a readable PDF: ${reason}`);
}

function readInWorker(bytes: Uint8Array, limits: PdfLimits): Promise<WorkerResult> {
  // The bytes are transferred to the worker, which detaches them: it gets a copy.
  const copy = bytes.slice();
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    workerData: { bytes: copy, pdfParse: import.meta.resolve('pdf-parse') },
    transferList: [copy.buffer],
    resourceLimits: { maxOldGenerationSizeMb: limits.maxHeapMb },
  });
  return new Promise<WorkerResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(unreadable(`reading it took longer than ${limits.timeoutMs / 1000} s.`));
      void worker.terminate();
    }, limits.timeoutMs);
    worker.once('message', (result: WorkerResult) => {
      clearTimeout(timer);
      resolve(result);
      void worker.terminate();
    });
    worker.once('error', (error: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(
        error.code === 'ERR_WORKER_OUT_OF_MEMORY'
          ? unreadable('it needs more memory to read than a document may use.')
          : error,
      );
    });
    worker.once('exit', () => {
      clearTimeout(timer);
      reject(new Error('The PDF worker exited without a result.'));
    });
  });
}
