/**
 * Database roles. Migrations run as the schema owner. At run time every transaction drops to one
 * of these two roles with SET LOCAL ROLE, and neither is a superuser, the owner or BYPASSRLS:
 * - `bulkhead_app` sees the rows of the tenant named by `app.tenant_id`, and nothing when it is unset.
 * - `bulkhead_operator` sees every tenant's rows; only `withOperator` switches to it, and records why.
 * `bulkhead_app` is NOINHERIT: it may SET ROLE to the operator role, but the operator policies do not
 * apply to it while it is itself.
 */
export const APP_ROLE = 'bulkhead_app';
export const OPERATOR_ROLE = 'bulkhead_operator';
