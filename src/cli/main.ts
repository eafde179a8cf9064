import { Command, Option } from 'commander';
import { ConfigError, describeConfig, loadConfig } from '../core/config.ts';
import { roles } from '../core/tenant-context.ts';
import { openDatabase } from '../db/database.ts';
import { migrate } from '../db/migrate.ts';
import { buildApp } from '../http/build-app.ts';
import { resolveSecrets } from '../http/embedded-secrets.ts';
import { serve } from '../http/server.ts';
import { migrateSilos } from '../lifecycle/promote/migrate-silos.ts';
import { SiloUrlBox } from '../lifecycle/promote/silo-url-box.ts';
import { adminRequest, adminTarget } from './admin-client.ts';
import { registerExportCommand } from './export-command.ts';
import { registerIngestCommand } from './ingest-command.ts';
import { registerPolicyCommands } from './policy-commands.ts';
import { verifyAnchorsFile } from '../audit/anchor/verify-anchors-file.ts';

const env = process.env;
async function allTenantIds(target: ReturnType<typeof adminTarget>): Promise<string[]> {
  const ids: string[] = [];
  let after: string | null = null;
  for (;;) {
    const query = new URLSearchParams({ limit: '100', ...(after !== null && { after }) });
    const page = (await adminRequest(target, 'GET', `/v1/admin/tenants?${query.toString()}`)) as {
      data: { id: string }[];
      has_more: boolean;
      last_id: string | null;
    };
    ids.push(...page.data.map((t) => t.id));
    if (!page.has_more || page.last_id === null) return ids;
    after = page.last_id;
  }
}

const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
const urlOption = new Option(
  '--url <url>',
  'Bulkhead server (default BULKHEAD_URL or http://127.0.0.1:$PORT)',
);

const program = new Command('bulkhead')
  .description('Multi-tenant AI platform')
  .showHelpAfterError();

program
  .command('serve')
  .description('Start the server (embedded database unless DATABASE_URL is set)')
  .action(() => serve(env));

program
  .command('migrate')
  .description('Create or update the schema and the bulkhead_app / bulkhead_operator roles')
  .action(async () => {
    const config = loadConfig(env);
    const url = config.migrationDatabaseUrl ?? config.databaseUrl;
    const db = await openDatabase({ url, dataDir: config.dataDir });
    try {
      const report = await migrate(db.backend, {
        ...(config.appDbPassword !== undefined && { appPassword: config.appDbPassword }),
      });
      process.stdout.write(
        `${report.applied.length === 0 ? 'Schema is up to date.' : `Applied: ${report.applied.join(', ')}`}\n` +
          (report.vector
            ? ''
            : 'Warning: the pgvector extension is not available; knowledge search will be unavailable.\n'),
      );
      // Silos' URLs are sealed with the master key: without it, they cannot be found.
      if (config.masterKey === undefined && config.databaseUrl !== undefined) {
        process.stdout.write(
          'Silos (tenants promoted to their own database) were not migrated: set BULKHEAD_MASTER_KEY.\n',
        );
      } else {
        const { masterKey } = resolveSecrets(config);
        for (const silo of await migrateSilos(
          db.backend,
          new SiloUrlBox(masterKey, config.previousMasterKeys),
        )) {
          process.stdout.write(
            `Silo ${silo.silo}: ${silo.applied.length === 0 ? 'up to date' : `applied ${silo.applied.join(', ')}`}\n`,
          );
        }
      }
    } finally {
      await db.close();
    }
  });

const tenants = program.command('tenants').description('Manage tenants (through a running server)');
tenants
  .command('create')
  .description('Create a tenant; prints its initial owner API key (shown once)')
  .requiredOption('--name <name>', 'tenant name')
  .addOption(urlOption)
  .action(async (opts: { name: string; url?: string }) => {
    print(
      await adminRequest(adminTarget(env, opts.url), 'POST', '/v1/admin/tenants', {
        name: opts.name,
      }),
    );
  });
tenants
  .command('promote')
  .description(
    'Move a tenant from the shared pool to its own PostgreSQL database (copied, verified, then switched)',
  )
  .argument('<tenantId>')
  .requiredOption(
    '--database-url <url>',
    "the silo's postgres:// URL; its role must be able to create tables and roles",
  )
  .option('--reason <text>', 'why (goes to the operator log and the tenant trail)')
  .addOption(urlOption)
  .action(
    async (tenantId: string, opts: { databaseUrl: string; reason?: string; url?: string }) => {
      print(
        await adminRequest(
          adminTarget(env, opts.url),
          'POST',
          `/v1/admin/tenants/${encodeURIComponent(tenantId)}/promote`,
          { databaseUrl: opts.databaseUrl },
          opts.reason === undefined ? {} : { 'x-bulkhead-reason': opts.reason },
        ),
      );
    },
  );
tenants
  .command('demote')
  .description('Move a promoted tenant back into the shared pool')
  .argument('<tenantId>')
  .option('--reason <text>', 'why (goes to the operator log and the tenant trail)')
  .addOption(urlOption)
  .action(async (tenantId: string, opts: { reason?: string; url?: string }) => {
    print(
      await adminRequest(
        adminTarget(env, opts.url),
        'POST',
        `/v1/admin/tenants/${encodeURIComponent(tenantId)}/demote`,
        undefined,
        opts.reason === undefined ? {} : { 'x-bulkhead-reason': opts.reason },
      ),
    );
  });
tenants
  .command('placement')
  .description('Where a tenant is served from: pool, silo or moving')
  .argument('<tenantId>')
  .addOption(urlOption)
  .action(async (tenantId: string, opts: { url?: string }) => {
    print(
      await adminRequest(
        adminTarget(env, opts.url),
        'GET',
        `/v1/admin/tenants/${encodeURIComponent(tenantId)}/placement`,
      ),
    );
  });
tenants
  .command('list')
  .description('List tenants')
  .option('--limit <n>', 'page size (1-100)', '100')
  .option('--after <tenantId>', 'cursor: list tenants after this id')
  .addOption(urlOption)
  .action(async (opts: { limit: string; after?: string; url?: string }) => {
    const query = new URLSearchParams({
      limit: opts.limit,
      ...(opts.after !== undefined && { after: opts.after }),
    });
    print(
      await adminRequest(
        adminTarget(env, opts.url),
        'GET',
        `/v1/admin/tenants?${query.toString()}`,
      ),
    );
  });

const keys = program
  .command('keys')
  .description("Manage a tenant's API keys (through a running server)");
keys
  .command('create')
  .description('Create an API key for a tenant; prints the secret (shown once)')
  .requiredOption('--tenant <tenantId>', 'tenant id')
  .requiredOption('--name <name>', 'key name')
  .addOption(new Option('--role <role>', 'role of the key').choices(roles).default('member'))
  .option('--expires-at <iso>', 'expiry time (ISO 8601)')
  .addOption(urlOption)
  .action(
    async (opts: {
      tenant: string;
      name: string;
      role: string;
      expiresAt?: string;
      url?: string;
    }) => {
      print(
        await adminRequest(
          adminTarget(env, opts.url),
          'POST',
          `/v1/admin/tenants/${encodeURIComponent(opts.tenant)}/keys`,
          {
            name: opts.name,
            role: opts.role,
            ...(opts.expiresAt !== undefined && { expiresAt: opts.expiresAt }),
          },
        ),
      );
    },
  );
keys
  .command('revoke')
  .description('Revoke an API key (effective on its next request)')
  .requiredOption('--tenant <tenantId>', 'tenant id')
  .argument('<keyId>', 'key id')
  .addOption(urlOption)
  .action(async (keyId: string, opts: { tenant: string; url?: string }) => {
    print(
      await adminRequest(
        adminTarget(env, opts.url),
        'DELETE',
        `/v1/admin/tenants/${encodeURIComponent(opts.tenant)}/keys/${encodeURIComponent(keyId)}`,
      ),
    );
  });

keys
  .command('rotate-data-key')
  .description(
    "Rotate a tenant's data key: re-encrypt its sealed values under a new version, retire old versions",
  )
  .requiredOption('--tenant <tenantId>', 'tenant id')
  .option('--reason <text>', "why (goes to the operator log and the tenant's audit trail)")
  .addOption(urlOption)
  .action(async (opts: { tenant: string; reason?: string; url?: string }) => {
    print(
      await adminRequest(
        adminTarget(env, opts.url),
        'POST',
        `/v1/admin/tenants/${encodeURIComponent(opts.tenant)}/data-key/rotate`,
        undefined,
        opts.reason === undefined ? {} : { 'x-bulkhead-reason': opts.reason },
      ),
    );
  });

registerPolicyCommands(program, env, urlOption);
registerIngestCommand(program, env, urlOption);
registerExportCommand(program, env, urlOption);

const audit = program.command('audit').description('Audit trails (through a running server)');
audit
  .command('verify')
  .description("Verify tenants' audit hash chains; exits 1 if any chain is broken")
  .option('--tenant <tenantId>', 'one tenant (default: every tenant)')
  .option(
    '--anchors <file>',
    'also hold each chain against every published checkpoint in this file (default: the tenants it names)',
  )
  .addOption(urlOption)
  .action(async (opts: { tenant?: string; url?: string; anchors?: string }) => {
    const target = adminTarget(env, opts.url);
    if (opts.anchors !== undefined) {
      const write = (line: string) => process.stdout.write(line);
      if (!(await verifyAnchorsFile(target, opts.anchors, opts.tenant, write))) {
        process.exitCode = 1;
      }
      return;
    }
    const tenantIds = opts.tenant !== undefined ? [opts.tenant] : await allTenantIds(target);
    let broken = 0;
    for (const tenantId of tenantIds) {
      const report = (await adminRequest(
        target,
        'GET',
        `/v1/admin/tenants/${encodeURIComponent(tenantId)}/audit/verify`,
      )) as { ok: boolean; events: number; brokenAt?: number; reason?: string };
      if (!report.ok) broken++;
      process.stdout.write(
        report.ok
          ? `${tenantId}: ok (${report.events} events)\n`
          : `${tenantId}: BROKEN at event ${report.brokenAt}: ${report.reason}\n`,
      );
    }
    if (broken > 0) process.exitCode = 1;
  });

program
  .command('openapi')
  .description('Print the OpenAPI document generated from the route schemas')
  .action(async () => {
    const db = await openDatabase({ dataDir: null });
    const config = loadConfig({ LOG_LEVEL: 'silent' });
    const bulkhead = await buildApp({ config, db, masterKey: Buffer.alloc(32) });
    print(bulkhead.app.swagger());
    await bulkhead.close();
    await db.close();
  });

program
  .command('config')
  .description('List the environment variables Bulkhead reads')
  .action(() => {
    for (const field of describeConfig()) {
      process.stdout.write(
        `${field.env}${field.secret ? ` (or ${field.env}_FILE)` : ''}\n    ${field.doc}\n`,
      );
    }
  });

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(
    `${err instanceof ConfigError ? err.message : `Error: ${(err as Error).message}`}\n`,
  );
  process.exit(err instanceof ConfigError ? 78 : 1);
});
