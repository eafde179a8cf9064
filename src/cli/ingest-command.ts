import { readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative, resolve } from 'node:path';
import { type Command, Option } from 'commander';
import type { Env } from '../core/config.ts';
import { adminRequest, type AdminTarget, tenantTarget } from './admin-client.ts';

const contentTypes: Record<string, string> = {
  '.md': 'text/markdown',
  '.markdown': 'text/markdown',
  '.txt': 'text/plain',
  '.html': 'text/html',
  '.htm': 'text/html',
  '.pdf': 'application/pdf',
};

function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.')) continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...filesUnder(path));
    else if (entry.isFile() && contentTypes[extname(entry.name).toLowerCase()] !== undefined)
      found.push(path);
  }
  return found.sort();
}

/** One line, redrawn in place on a terminal; plain lines when the output is a file or a pipe. */
function progress(done: number, total: number, label: string): void {
  const width = 24;
  const filled = total === 0 ? width : Math.round((done / total) * width);
  const bar = `[${'='.repeat(filled)}${' '.repeat(width - filled)}] ${done}/${total} ${label}`;
  if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${bar}`);
  else process.stderr.write(`${bar}\n`);
}

async function collectionId(target: AdminTarget, name: string, create: boolean): Promise<string> {
  if (/^col_[0-9a-z]{26}$/.test(name)) return name;
  let after: string | null = null;
  for (;;) {
    const query = new URLSearchParams({ limit: '100', ...(after !== null && { after }) });
    const page = (await adminRequest(target, 'GET', `/v1/collections?${query.toString()}`)) as {
      data: { id: string; name: string }[];
      has_more: boolean;
      last_id: string | null;
    };
    const match = page.data.find((c) => c.name === name);
    if (match !== undefined) return match.id;
    if (!page.has_more || page.last_id === null) break;
    after = page.last_id;
  }
  if (!create) throw new Error(`No collection named '${name}' (add --create to make it).`);
  const created = (await adminRequest(target, 'POST', '/v1/collections', { name })) as {
    id: string;
  };
  return created.id;
}

/**
 * `bulkhead ingest <dir>`: every .md, .txt, .html and .pdf file below a folder, uploaded into a
 * collection with its relative path as external id — so running it again replaces, never
 * duplicates — with a progress bar. A file that fails is reported and the rest go on.
 */
export function registerIngestCommand(program: Command, env: Env, urlOption: Option): void {
  program
    .command('ingest')
    .description('Ingest the documents of a folder into a collection (through a running server)')
    .argument('<dir>', 'folder to read (.md, .txt, .html, .pdf; recursively)')
    .requiredOption('--collection <name>', 'collection name or id')
    .option('--create', 'create the collection if it does not exist')
    .addOption(urlOption)
    .addOption(
      new Option(
        '--api-key <key>',
        "a tenant key with 'knowledge:write' (default BULKHEAD_API_KEY)",
      ),
    )
    .action(
      async (
        dir: string,
        opts: { collection: string; create?: boolean; url?: string; apiKey?: string },
      ) => {
        const target = tenantTarget(env, opts.url, opts.apiKey);
        const root = resolve(dir);
        if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
          throw new Error(`${dir} is not a folder.`);
        }
        const id = await collectionId(target, opts.collection, opts.create === true);
        const files = filesUnder(root);
        let chunks = 0;
        const failed: string[] = [];
        for (const [i, file] of files.entries()) {
          const name = relative(root, file);
          progress(i, files.length, name);
          const query = new URLSearchParams({ filename: name, externalId: name });
          try {
            const response = await fetch(
              `${target.url}/v1/collections/${id}/documents/upload?${query.toString()}`,
              {
                method: 'POST',
                headers: {
                  authorization: `Bearer ${target.token}`,
                  'content-type': contentTypes[extname(file).toLowerCase()]!,
                },
                body: readFileSync(file),
              },
            );
            const body = (await response.json().catch(() => null)) as {
              chunks?: number;
              error?: { message?: string };
            } | null;
            if (!response.ok) throw new Error(body?.error?.message ?? `HTTP ${response.status}`);
            chunks += body?.chunks ?? 0;
          } catch (err) {
            failed.push(`${name}: ${(err as Error).message}`);
          }
        }
        progress(files.length, files.length, 'done');
        if (process.stderr.isTTY) process.stderr.write('\n');
        process.stdout.write(
          `${JSON.stringify({ collection: id, files: files.length, ingested: files.length - failed.length, chunks, failed }, null, 2)}\n`,
        );
        if (failed.length > 0) process.exitCode = 1;
      },
    );
}
