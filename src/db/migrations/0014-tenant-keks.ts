import { APP_ROLE, OPERATOR_ROLE } from '../roles.ts';

/**
 * The `database` key store (src/secrets/key-store/database-key-store.ts): each tenant's
 * key-encryption key, wrapped by the master key, in a schema of its own so that nothing walking the
 * tenant tables of `public` (deletion, export, promotion) copies or exports it. Deployments that
 * configure a separate key store leave it empty. `home.id` is random per database: it tells the
 * store whether a transaction it is handed runs in the pool (where the keys are) or in a silo.
 *
 * Tenant transactions read their own row only (forced RLS); the key store itself works as the
 * operator role. Tombstones record whether the deleted tenant's KEK was destroyed (null: deleted
 * before KEKs existed, or the silo's copy of a tombstone the pool also keeps).
 */
export const tenantKeks = {
  id: '0014-tenant-keks',
  sql: `
create schema bulkhead_keystore;
create table bulkhead_keystore.home (
  id text primary key default md5(random()::text || clock_timestamp()::text)
);
insert into bulkhead_keystore.home default values;
create table bulkhead_keystore.tenant_keks (
  tenant_id text primary key,
  wrapped_kek bytea not null,
  created_at timestamptz not null default now()
);
alter table bulkhead_keystore.tenant_keks enable row level security;
alter table bulkhead_keystore.tenant_keks force row level security;
create policy tenant_isolation on bulkhead_keystore.tenant_keks to ${APP_ROLE}
  using (tenant_id = current_setting('app.tenant_id', true));
create policy operator_access on bulkhead_keystore.tenant_keks to ${OPERATOR_ROLE}
  using (true) with check (true);
grant usage on schema bulkhead_keystore to ${APP_ROLE}, ${OPERATOR_ROLE};
grant select on bulkhead_keystore.home to ${APP_ROLE}, ${OPERATOR_ROLE};
grant select on bulkhead_keystore.tenant_keks to ${APP_ROLE};
grant select, insert, update, delete on bulkhead_keystore.tenant_keks to ${OPERATOR_ROLE};
alter table tenant_tombstones add column key_destroyed boolean;
grant update (key_destroyed) on tenant_tombstones to ${OPERATOR_ROLE};
`,
};
