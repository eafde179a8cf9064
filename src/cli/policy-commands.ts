import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { parse, stringify } from 'yaml';
import type { Env } from '../core/config.ts';
import { adminRequest, tenantTarget } from './admin-client.ts';

interface PolicyView {
  version: number;
  valid: boolean;
  document: unknown;
  author: string | null;
  comment: string | null;
  createdAt: string | null;
}

function readDocument(file: string): unknown {
  const text = readFileSync(file === '-' ? 0 : file, 'utf8');
  // YAML is a superset of JSON: either works.
  return parse(text) ?? {};
}

function printPolicy(view: PolicyView): void {
  const header = [
    `# policy version ${view.version}${view.valid ? '' : ' (INVALID: requests are refused)'}`,
    ...(view.author === null ? [] : [`# by ${view.author} at ${view.createdAt}`]),
    ...(view.comment === null ? [] : [`# ${view.comment}`]),
  ];
  process.stdout.write(`${header.join('\n')}\n${stringify(view.document)}`);
}

/** `bulkhead policy …`: a tenant's policy as readable YAML, through a running server. */
export function registerPolicyCommands(program: Command, env: Env, urlOption: Option): void {
  const keyOption = new Option(
    '--api-key <key>',
    "a tenant admin's API key (default BULKHEAD_API_KEY)",
  );
  const policy = program
    .command('policy')
    .description("Read and change a tenant's policy, as YAML (through a running server)");
  const target = (opts: { url?: string; apiKey?: string }) =>
    tenantTarget(env, opts.url, opts.apiKey);

  policy
    .command('get')
    .description('Print the current policy (or one version) as YAML')
    .option('--version <n>', 'an earlier version')
    .addOption(urlOption)
    .addOption(keyOption)
    .action(async (opts: { version?: string; url?: string; apiKey?: string }) => {
      const path =
        opts.version === undefined
          ? '/v1/policy'
          : `/v1/policy/versions/${encodeURIComponent(opts.version)}`;
      printPolicy((await adminRequest(target(opts), 'GET', path)) as PolicyView);
    });

  policy
    .command('set')
    .description('Save a YAML (or JSON) file as the next version; "-" reads standard input')
    .argument('<file>', 'the policy document')
    .option('--if-version <n>', 'refuse if the current version is not this one (no lost updates)')
    .addOption(urlOption)
    .addOption(keyOption)
    .action(async (file: string, opts: { ifVersion?: string; url?: string; apiKey?: string }) => {
      const saved = (await adminRequest(
        target(opts),
        'PUT',
        '/v1/policy',
        readDocument(file),
        opts.ifVersion === undefined ? {} : { 'if-match': `"${opts.ifVersion}"` },
      )) as PolicyView;
      process.stdout.write(`saved as version ${saved.version}\n`);
    });

  policy
    .command('history')
    .description('List the versions, newest first')
    .option('--limit <n>', 'how many (1-100)', '20')
    .addOption(urlOption)
    .addOption(keyOption)
    .action(async (opts: { limit: string; url?: string; apiKey?: string }) => {
      const page = (await adminRequest(
        target(opts),
        'GET',
        `/v1/policy/versions?limit=${encodeURIComponent(opts.limit)}`,
      )) as { data: PolicyView[] };
      for (const v of page.data) {
        process.stdout.write(
          `${v.version}\t${v.createdAt}\t${v.author}${v.comment === null ? '' : `\t${v.comment}`}\n`,
        );
      }
    });

  policy
    .command('rollback')
    .description('Make an earlier version current again (saved as a new version)')
    .argument('<version>', 'the version to restore')
    .addOption(urlOption)
    .addOption(keyOption)
    .action(async (version: string, opts: { url?: string; apiKey?: string }) => {
      const saved = (await adminRequest(target(opts), 'POST', '/v1/policy/rollback', {
        version: Number(version),
      })) as PolicyView;
      process.stdout.write(`version ${version} restored as version ${saved.version}\n`);
    });

  policy
    .command('evaluate')
    .description('Dry-run a chat request (YAML or JSON file) against the policy or a draft')
    .argument('<request>', 'the chat request')
    .option('--draft <file>', 'a draft policy to evaluate instead of the current one')
    .addOption(urlOption)
    .addOption(keyOption)
    .action(async (request: string, opts: { draft?: string; url?: string; apiKey?: string }) => {
      const evaluation = await adminRequest(target(opts), 'POST', '/v1/policy/evaluate', {
        request: readDocument(request),
        ...(opts.draft !== undefined && { policy: readDocument(opts.draft) }),
      });
      process.stdout.write(stringify(evaluation));
    });
}
