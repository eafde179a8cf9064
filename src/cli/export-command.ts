import { once } from 'node:events';
import { createWriteStream, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import { extract } from 'tar-stream';
import type { Env } from '../core/config.ts';
import { EXPECTED_ROWS_HEADER } from '../lifecycle/export/export-archive.ts';
import { countNewlines, verifyExportArchive } from '../lifecycle/export/verify-archive.ts';
import { adminTarget, type AdminTarget, tenantTarget } from './admin-client.ts';

function mebibytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Rows received so far, read from the tar as it streams by (the newlines of the table files): the
 * archive itself is checked once it is complete, from the file on disk.
 */
function rowCounter() {
  let rows = 0;
  let broken = false;
  const reader = extract();
  reader.on('entry', (header, stream, next) => {
    const counting = header.name.startsWith('tables/');
    stream.on('data', (chunk: unknown) => {
      if (counting) rows += countNewlines(chunk as Uint8Array);
    });
    stream.on('end', () => next());
  });
  // A damaged stream stops the count, not the download: verification names the problem.
  reader.on('error', () => (broken = true));
  return {
    write(chunk: Uint8Array) {
      if (!broken) reader.write(Buffer.from(chunk));
    },
    rows: () => rows,
    close: () => reader.destroy(),
  };
}

/** One line, redrawn in place on a terminal; a plain line every few seconds into a file or pipe. */
function progressLine() {
  let last = 0;
  return (rows: number, expected: number | null, bytes: number, final = false) => {
    const now = Date.now();
    if (!final && now - last < (process.stderr.isTTY ? 100 : 2000)) return;
    last = now;
    const width = 24;
    const share = expected === null || expected === 0 ? 1 : Math.min(1, rows / expected);
    const filled = Math.round(share * width);
    const line = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${rows}/${expected ?? '?'} rows, ${mebibytes(bytes)}${final ? ' done' : ''}`;
    if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
  };
}

async function download(
  target: AdminTarget,
  path: string,
  headers: Record<string, string>,
  out: string,
): Promise<{ rows: number; expected: number | null; bytes: number }> {
  let response: Response;
  try {
    response = await fetch(`${target.url}${path}`, {
      headers: { authorization: `Bearer ${target.token}`, ...headers },
    });
  } catch (err) {
    throw new Error(
      `Cannot reach Bulkhead at ${target.url}: ${(err as Error).message}. Is \`bulkhead serve\` running?`,
    );
  }
  if (!response.ok || response.body === null) {
    const payload = (await response.json().catch(() => null)) as {
      error?: { message?: string };
    } | null;
    throw new Error(
      `GET ${path} failed (HTTP ${response.status}): ${payload?.error?.message ?? 'no details'}`,
    );
  }
  const announced = Number(response.headers.get(EXPECTED_ROWS_HEADER) ?? Number.NaN);
  const expected = Number.isSafeInteger(announced) ? announced : null;
  // Tenant data: readable by the owner only, as the server's own secrets are.
  const file = createWriteStream(out, { mode: 0o600 });
  const counter = rowCounter();
  const show = progressLine();
  let bytes = 0;
  try {
    for await (const chunk of response.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      counter.write(chunk);
      if (!file.write(chunk)) await once(file, 'drain');
      show(counter.rows(), expected, bytes);
    }
    file.end();
    await once(file, 'close');
  } catch (err) {
    file.destroy();
    throw new Error(
      `The export was cut off after ${mebibytes(bytes)} (${counter.rows()} of ${expected ?? '?'} rows): ${(err as Error).message}. The archive is incomplete; run the export again.`,
    );
  } finally {
    counter.close();
  }
  show(counter.rows(), expected, bytes, true);
  return { rows: counter.rows(), expected, bytes };
}

async function verifyOrThrow(file: string, label: string) {
  const report = await verifyExportArchive(file);
  if (!report.ok) {
    throw new Error(`${label} failed verification:\n  ${report.problems.join('\n  ')}`);
  }
  return report;
}

/**
 * `bulkhead export --out <file.tar>`: the tenant's archive (`bulkhead-export/2`) through a running
 * server — the tenant of the API key, or, with `--tenant` and `--reason`, any tenant as the
 * operator — with progress on stderr. It is written to a temporary file beside the target, checked
 * against its manifest, and only then renamed into place: a file at `--out` is complete and
 * verified. `bulkhead export verify <file.tar>` checks an archive again later.
 */
export function registerExportCommand(program: Command, env: Env, urlOption: Option): void {
  const command = program
    .command('export')
    .description(
      "Export a tenant's data as a tar archive, verified against its manifest (through a running server)",
    )
    .option('--out <file.tar>', 'where to write the archive')
    .option('--tenant <tenantId>', 'as the operator: export this tenant (needs --reason)')
    .option('--reason <text>', "why the operator exports (recorded in the tenant's audit trail)")
    .addOption(urlOption)
    .addOption(
      new Option(
        '--api-key <key>',
        "without --tenant: a tenant owner's or admin's key (default BULKHEAD_API_KEY)",
      ),
    )
    .action(
      async (opts: {
        out?: string;
        tenant?: string;
        reason?: string;
        url?: string;
        apiKey?: string;
      }) => {
        if (opts.out === undefined) throw new Error('--out <file.tar> is required.');
        if (opts.tenant === undefined && opts.reason !== undefined)
          throw new Error('--reason goes with --tenant (an operator export).');
        if (opts.tenant !== undefined && (opts.reason ?? '').trim() === '')
          throw new Error(
            "--reason is required with --tenant: it is recorded in the tenant's audit trail.",
          );
        const asOperator = opts.tenant !== undefined;
        const target = asOperator
          ? adminTarget(env, opts.url)
          : tenantTarget(env, opts.url, opts.apiKey);
        const path = asOperator
          ? `/v1/admin/tenants/${encodeURIComponent(opts.tenant!)}/export`
          : '/v1/export';
        const out = resolve(opts.out);
        const temporary = join(dirname(out), `.${basename(out)}.${process.pid}.partial`);
        try {
          const received = await download(
            target,
            path,
            asOperator ? { 'x-bulkhead-reason': opts.reason!.trim() } : {},
            temporary,
          );
          const report = await verifyOrThrow(temporary, `The archive from ${target.url}${path}`);
          renameSync(temporary, out);
          process.stdout.write(
            `${JSON.stringify(
              {
                file: out,
                tenantId: report.tenantId,
                tables: report.tables,
                rows: report.rows,
                expectedRows: received.expected,
                bytes: received.bytes,
                verifiedFiles: report.verifiedFiles,
              },
              null,
              2,
            )}\n`,
          );
        } finally {
          rmSync(temporary, { force: true });
        }
      },
    );

  command
    .command('verify')
    .description('Check an export archive against its manifest; exits 1 naming what differs')
    .argument('<file.tar>', 'the archive')
    .action(async (file: string) => {
      const report = await verifyOrThrow(file, file);
      process.stdout.write(
        `${JSON.stringify({ file, ok: true, tenantId: report.tenantId, tables: report.tables, rows: report.rows, verifiedFiles: report.verifiedFiles }, null, 2)}\n`,
      );
    });
}
