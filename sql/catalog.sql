/* billium: the database roles, and the catalogs: permissions, team roles, key types, actions, errors. */

------------------------------------------------------------------------------------------------
-- Roles of the database.  Roles are cluster-wide, so they are created only when missing and
-- outlive the extension.  billium_api is what application login roles are granted;
-- billium_admin may act as any dashboard user (provisioning scripts, tests); billium_scanner may
-- report leaked keys (billium_report_leaked_keys, in keys.sql) and do nothing else;
-- billium_provisioner creates users and records their factors (the application's sign-up and
-- settings pages: billium_provision_user, in team.sql) and does nothing else;
-- billium_payments, the payment side, is the only role that marks invoices paid
-- (billium_mark_invoice_paid, in tables.sql).
------------------------------------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_api') THEN
		CREATE ROLE billium_api NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_admin') THEN
		CREATE ROLE billium_admin NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_scanner') THEN
		CREATE ROLE billium_scanner NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_payments') THEN
		CREATE ROLE billium_payments NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_provisioner') THEN
		CREATE ROLE billium_provisioner NOLOGIN;
	END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Caps: what a team role or a key type allows at most.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_role_cap(text) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_role_cap(text) IS
	'the most a team member of this role (OWNER, ADMIN, MEMBER, VIEWER; any case) may hold';

CREATE FUNCTION @extschema@.billium_key_type_cap(text) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_key_type_cap(text) IS
	'the most an API key of this type (sk or pk) may hold';

------------------------------------------------------------------------------------------------
-- Catalog views, generated from the C catalog so the names are written once.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_permission_catalog(
		OUT "bit" integer, OUT name text, OUT domain text, OUT description text)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 34;
CREATE FUNCTION @extschema@.billium_role_catalog(OUT role text, OUT permissions @extschema@.billium_permset)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 4;

CREATE VIEW @extschema@.permissions AS
	SELECT "bit", name, domain, description FROM @extschema@.billium_permission_catalog();
COMMENT ON VIEW @extschema@.permissions IS 'the 34 permissions: bit position, name, domain';

CREATE VIEW @extschema@.roles AS
	SELECT role, permissions, @extschema@.billium_permset_count(permissions) AS count
	FROM @extschema@.billium_role_catalog();
COMMENT ON VIEW @extschema@.roles IS 'the four team roles and the permissions each caps at';

-- The security factors a merchant may require of its dashboard users (src/factors.c): the name
-- the envelope's "missing" lists, the column of billium.users that says a user has it, and the
-- column of billium.merchants that says the merchant requires it, in the envelope's order.  The
-- SQL that must name the columns (their definitions, billium_api's UPDATE grant on merchants)
-- is checked against it by test/sql/catalog.sql.
CREATE FUNCTION @extschema@.billium_factor_catalog(
		OUT "bit" integer, OUT name text, OUT user_column text, OUT enforce_column text)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE ROWS 5;
CREATE VIEW @extschema@.security_factors AS
	SELECT "bit", name, user_column, enforce_column FROM @extschema@.billium_factor_catalog();
COMMENT ON VIEW @extschema@.security_factors IS
	'the security factors a merchant may require: the envelope''s name, the users column, the merchants column';

CREATE VIEW @extschema@.key_types AS
	SELECT key_type, @extschema@.billium_key_type_cap(key_type) AS permissions,
		   @extschema@.billium_permset_count(@extschema@.billium_key_type_cap(key_type)) AS count
	FROM (VALUES ('sk'), ('pk')) AS t(key_type);
COMMENT ON VIEW @extschema@.key_types IS 'the two API key types and the permissions each caps at';

-- Everyone may use the type and read the catalog; nothing else is granted to PUBLIC.
GRANT USAGE ON SCHEMA @extschema@ TO PUBLIC;
GRANT SELECT ON @extschema@.permissions, @extschema@.roles, @extschema@.key_types,
	@extschema@.security_factors TO PUBLIC;

------------------------------------------------------------------------------------------------
-- The API's actions: what each needs, and which a public key may reach.  An action's rule is one
-- permission, or one team role: transferring ownership is the OWNER's alone (the spec), whatever
-- permissions anyone else holds.  A key holds no role, so an action ruled by a role is a
-- dashboard session's only.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.actions (
	name text PRIMARY KEY CHECK (name ~ '^[a-z_]+\.[a-z_]+$'),
	permission text
		CONSTRAINT actions_permission_check CHECK (permission IS NULL
		OR @extschema@.billium_permset_count(@extschema@.billium_permset_from_names(ARRAY[permission])) = 1),
	secret_only boolean NOT NULL DEFAULT true,
	builtin boolean NOT NULL DEFAULT false,
	role text CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
	CONSTRAINT actions_one_rule CHECK ((permission IS NULL) <> (role IS NULL))
);
COMMENT ON TABLE @extschema@.actions IS
	'API actions (resource.verb), the permission each requires, and whether a pk key may call it';
COMMENT ON COLUMN @extschema@.actions.role IS
	'when set (and permission null): only a team member with exactly this role may call the action, in a dashboard session';

INSERT INTO @extschema@.actions (name, permission, secret_only, builtin) VALUES
	('merchants.retrieve', 'merchant:view', true, true),
	('merchants.update', 'merchant:edit', true, true),
	('merchants.delete', 'merchant:delete', true, true),
	('billing.retrieve', 'merchant:billing', true, true),
	('billing.update', 'merchant:billing', true, true),
	('invoices.create', 'invoice:create', false, true),
	('invoices.retrieve', 'invoice:view', false, true),
	('invoices.list', 'invoice:view', true, true),
	('invoices.update', 'invoice:edit', true, true),
	('invoices.cancel', 'invoice:edit', true, true),
	('invoices.delete', 'invoice:delete', true, true),
	('products.create', 'product:create', true, true),
	('products.retrieve', 'product:view', false, true),
	('products.list', 'product:view', true, true),
	('products.update', 'product:edit', true, true),
	('products.delete', 'product:delete', true, true),
	('customers.create', 'customer:edit', true, true),
	('customers.retrieve', 'customer:view', true, true),
	('customers.list', 'customer:view', true, true),
	('customers.update', 'customer:edit', true, true),
	('customers.delete', 'customer:delete', true, true),
	('team.list', 'team:view', true, true),
	('team.retrieve', 'team:view', true, true),
	('team.invite', 'team:invite', true, true),
	('team.remove', 'team:remove', true, true),
	('team.update_role', 'team:manage_roles', true, true),
	('api_keys.list', 'api_key:view', true, true),
	('api_keys.retrieve', 'api_key:view', true, true),
	('api_keys.create', 'api_key:create', true, true),
	('api_keys.update', 'api_key:edit', true, true),
	('api_keys.roll', 'api_key:edit', true, true),
	('api_keys.revoke', 'api_key:delete', true, true),
	('webhooks.list', 'webhook:view', true, true),
	('webhooks.retrieve', 'webhook:view', true, true),
	('webhooks.create', 'webhook:create', true, true),
	('webhooks.update', 'webhook:edit', true, true),
	('webhooks.delete', 'webhook:delete', true, true),
	('checkout.retrieve', 'checkout:view', true, true),
	('checkout.update', 'checkout:edit', true, true),
	('wallets.list', 'wallet:view', true, true),
	('wallets.retrieve', 'wallet:view', true, true),
	('wallets.create', 'wallet:create', true, true),
	('wallets.update', 'wallet:edit', true, true),
	('wallets.delete', 'wallet:delete', true, true),
	('reports.list', 'report:view', true, true),
	('reports.retrieve', 'report:view', true, true);
INSERT INTO @extschema@.actions (name, permission, role, secret_only, builtin)
VALUES ('team.transfer_ownership', NULL, 'OWNER', true, true);

-- Each backend caches the catalog; any change to it tells every backend at commit.
CREATE FUNCTION @extschema@.billium_invalidate_cache() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.billium_invalidate_cache() IS
	'trigger: makes stale, at commit, what billium''s caches hold for the merchants and users of the rows written (per row; everything for TRUNCATE; per statement on actions)';
CREATE TRIGGER actions_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.actions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();

-- The caches' statistics: the verified-key cache (shared by every backend when billium is
-- preloaded, else this backend's), and this backend's own caches.  Counts only, no keys.
CREATE FUNCTION @extschema@.billium_cache_stats(
		OUT scope text, OUT capacity bigint, OUT entries bigint, OUT hits bigint, OUT misses bigint,
		OUT evictions bigint, OUT stale bigint)
	RETURNS record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION @extschema@.billium_cache_stats() IS
	'the verified-key cache: shared or backend, its capacity, entries, hits, misses, evictions and stale entries refused';
CREATE FUNCTION @extschema@.billium_local_cache_stats(
		OUT cache text, OUT capacity bigint, OUT entries bigint, OUT hits bigint, OUT misses bigint,
		OUT evictions bigint, OUT stale bigint)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT ROWS 3;
COMMENT ON FUNCTION @extschema@.billium_local_cache_stats() IS
	'this backend''s caches (keys, teams, rates): capacity, entries, hits, misses, evictions and stale entries refused';
REVOKE ALL ON FUNCTION @extschema@.billium_cache_stats(), @extschema@.billium_local_cache_stats()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_cache_stats(), @extschema@.billium_local_cache_stats()
TO billium_admin, pg_monitor;

-- pg_dump keeps only the actions a deployment added.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', 'WHERE NOT builtin');
GRANT SELECT ON @extschema@.actions TO PUBLIC;

------------------------------------------------------------------------------------------------
-- Errors: one table of codes, HTTP statuses and SQLSTATEs, in C.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_error_catalog(
		OUT code text, OUT http_status integer, OUT sqlstate text, OUT message text)
	RETURNS SETOF record AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE VIEW @extschema@.errors AS
	SELECT code, http_status, sqlstate, message FROM @extschema@.billium_error_catalog();
COMMENT ON VIEW @extschema@.errors IS
	'the error envelope codes, the HTTP status and SQLSTATE of each, and its message';
GRANT SELECT ON @extschema@.errors TO PUBLIC;

-- Raise an envelope error from the extension's own SQL functions.  Internal.
CREATE FUNCTION @extschema@.billium_deny(code text, action text, extra jsonb DEFAULT NULL)
	RETURNS void AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE;
COMMENT ON FUNCTION @extschema@.billium_deny(text, text, jsonb) IS
	'internal: raise the envelope error of the code, with the members of extra added';

REVOKE ALL ON FUNCTION
	@extschema@.billium_invalidate_cache(),
	@extschema@.billium_deny(text, text, jsonb),
	@extschema@.billium_error_catalog()
FROM PUBLIC;
-- The guard triggers run as the writer, so the writer needs what they call.  billium_deny only
-- raises the envelope error.
GRANT EXECUTE ON FUNCTION @extschema@.billium_deny(text, text, jsonb) TO billium_api;
GRANT EXECUTE ON FUNCTION @extschema@.billium_error_catalog() TO PUBLIC;
