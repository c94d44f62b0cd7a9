/* billium 0.1.0 -> 0.2.0: API keys, the per-transaction principal, and the request gate. */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.2.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- Roles of the database.  Roles are cluster-wide, so they are created only when missing and
-- outlive the extension.  billium_api is what application login roles are granted;
-- billium_admin may act as any dashboard user (provisioning scripts, tests).
------------------------------------------------------------------------------------------------

DO $$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_api') THEN
		CREATE ROLE billium_api NOLOGIN;
	END IF;
	IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) 'billium_admin') THEN
		CREATE ROLE billium_admin NOLOGIN;
	END IF;
END
$$;

------------------------------------------------------------------------------------------------
-- Who is calling: a principal per transaction.
------------------------------------------------------------------------------------------------

CREATE TYPE @extschema@.billium_principal AS (
	kind text,			-- 'api_key' or 'user'
	merchant_id uuid,	-- the key's merchant; null for a user (whose merchants are their teams)
	key_id uuid,
	key_type text,		-- 'sk' or 'pk'
	user_id uuid,		-- the user, or the key's creator
	permissions @extschema@.billium_permset  -- the key's effective permissions; null for a user
);

CREATE TYPE @extschema@.billium_key_principal AS (
	key_id uuid,
	merchant_id uuid,
	key_type text,
	created_by uuid,
	permissions @extschema@.billium_permset
);

------------------------------------------------------------------------------------------------
-- The merchant model.  Every table leads with merchant_id where it has one; RLS is enabled and
-- forced everywhere, and with no policy an ordinary role sees and changes nothing.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.merchants (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	name text NOT NULL CHECK (pg_catalog.length(name) BETWEEN 1 AND 200),
	enforce_tfa boolean NOT NULL DEFAULT false,
	enforce_passkey boolean NOT NULL DEFAULT false,
	enforce_google_login boolean NOT NULL DEFAULT false,
	enforce_github_login boolean NOT NULL DEFAULT false,
	enforce_email_verified boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE @extschema@.users (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	email text NOT NULL UNIQUE,
	tfa_enabled boolean NOT NULL DEFAULT false,
	passkey_enabled boolean NOT NULL DEFAULT false,
	google_linked boolean NOT NULL DEFAULT false,
	github_linked boolean NOT NULL DEFAULT false,
	email_verified boolean NOT NULL DEFAULT false,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE @extschema@.team_members (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	user_id uuid NOT NULL REFERENCES @extschema@.users (id) ON DELETE CASCADE,
	role text NOT NULL CHECK (role IN ('OWNER', 'ADMIN', 'MEMBER', 'VIEWER')),
	permissions @extschema@.billium_permset NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, user_id),
	CONSTRAINT team_members_within_role_cap
		CHECK (permissions OPERATOR(@extschema@.<@) @extschema@.billium_role_cap(role))
);
CREATE UNIQUE INDEX team_members_one_owner ON @extschema@.team_members (merchant_id)
	WHERE role = 'OWNER';
CREATE INDEX team_members_user_id ON @extschema@.team_members (user_id);

-- Grants default to the role's cap; a change of role keeps a narrowed grant narrowed, and a full
-- grant full, within the new cap.
CREATE FUNCTION @extschema@.billium_team_members_fill() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.role := upper(NEW.role);
	IF TG_OP = 'INSERT' THEN
		IF NEW.permissions IS NULL THEN
			NEW.permissions := @extschema@.billium_role_cap(NEW.role);
		END IF;
	ELSIF NEW.role IS DISTINCT FROM OLD.role
		  AND NEW.permissions OPERATOR(@extschema@.=) OLD.permissions THEN
		NEW.permissions := CASE
			WHEN OLD.permissions OPERATOR(@extschema@.=) @extschema@.billium_role_cap(OLD.role)
				THEN @extschema@.billium_role_cap(NEW.role)
			ELSE OLD.permissions OPERATOR(@extschema@.&) @extschema@.billium_role_cap(NEW.role)
		END;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_team_members_fill() IS
	'trigger: a new member''s grant defaults to the role''s cap; a change of role keeps it within the new cap';
CREATE TRIGGER team_members_fill BEFORE INSERT OR UPDATE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_team_members_fill();

CREATE TABLE @extschema@.api_keys (
	id uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	key_type text NOT NULL CHECK (key_type IN ('sk', 'pk')),
	name text NOT NULL DEFAULT '',
	hint text NOT NULL,					-- 'sk_...9xQa': prefix and last 4 characters
	key_hash bytea NOT NULL UNIQUE CHECK (pg_catalog.length(key_hash) = 32),	-- SHA-256
	permissions @extschema@.billium_permset NOT NULL,		-- as granted
	created_by uuid NOT NULL REFERENCES @extschema@.users (id) ON DELETE CASCADE,
	created_by_key uuid REFERENCES @extschema@.api_keys (id) ON DELETE SET NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	expires_at timestamptz,
	revoked_at timestamptz,
	CONSTRAINT api_keys_within_type_cap
		CHECK (permissions OPERATOR(@extschema@.<@) @extschema@.billium_key_type_cap(key_type))
);
CREATE INDEX api_keys_merchant_id ON @extschema@.api_keys (merchant_id);
CREATE INDEX api_keys_created_by ON @extschema@.api_keys (created_by);

ALTER TABLE @extschema@.merchants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.team_members ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.api_keys ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

------------------------------------------------------------------------------------------------
-- The API's actions: what each needs, and which a public key may reach.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.actions (
	name text PRIMARY KEY CHECK (name ~ '^[a-z_]+\.[a-z_]+$'),
	permission text NOT NULL
		CHECK (@extschema@.billium_permset_count(@extschema@.billium_permset_from_names(ARRAY[permission])) = 1),
	secret_only boolean NOT NULL DEFAULT true,
	builtin boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE @extschema@.actions IS
	'API actions (resource.verb), the permission each requires, and whether a pk key may call it';

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

-- Each backend caches the catalog; any change to it tells every backend at commit.
CREATE FUNCTION @extschema@.billium_invalidate_cache() RETURNS trigger
	AS 'MODULE_PATHNAME' LANGUAGE C;
COMMENT ON FUNCTION @extschema@.billium_invalidate_cache() IS
	'statement trigger: tells every backend at commit that a table behind its caches changed';
CREATE TRIGGER actions_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.actions
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
-- Each backend also caches verified keys: any change to what a key's verdict depends on (the key,
-- its creator's team grant or role, its merchant) empties every backend's cache at commit.
CREATE TRIGGER api_keys_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER team_members_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.team_members
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER merchants_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.merchants
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();

-- pg_dump keeps the rows; of the actions, only those a deployment added.
SELECT pg_catalog.pg_extension_config_dump('@extschema@.merchants', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.team_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.actions', 'WHERE NOT builtin');

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

------------------------------------------------------------------------------------------------
-- Keys.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_key_generate(key_type text) RETURNS text
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION @extschema@.billium_key_generate(text) IS
	'a new random key of the type (sk or pk): prefix, 90 random base62 characters, 6 of checksum';

CREATE FUNCTION @extschema@.billium_key_is_well_formed(api_key text) RETURNS boolean
	AS 'MODULE_PATHNAME' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
COMMENT ON FUNCTION @extschema@.billium_key_is_well_formed(text) IS
	'does the text have a key''s prefix, length, alphabet and checksum? (no table is read)';

CREATE FUNCTION @extschema@.billium_key_verify(api_key text) RETURNS @extschema@.billium_key_principal
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_key_verify(text) IS
	'the key''s merchant, type, creator and effective permissions; raises the 401 envelope for a bad key';

------------------------------------------------------------------------------------------------
-- The principal of the transaction, and the gate.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_authenticate(api_key text) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authenticate(text) IS
	'verify the key and make it the principal of this transaction';

CREATE FUNCTION @extschema@.billium_current_principal() RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_current_principal() IS
	'the caller of this transaction (from billium.api_key, request.headers, billium_authenticate or billium_act_as), or null';

CREATE FUNCTION @extschema@.billium_principal_permissions(merchant_id uuid) RETURNS @extschema@.billium_permset
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_principal_permissions(uuid) IS
	'what the caller of this transaction may do on the merchant: {} when nothing';

CREATE FUNCTION @extschema@.billium_authorize(action text, merchant_id uuid DEFAULT NULL)
	RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_authorize(text, uuid) IS
	'the one call per request: the principal if it may perform the action on the merchant, else the 401/403/429 envelope';

CREATE FUNCTION @extschema@.billium_act_as(user_id uuid) RETURNS @extschema@.billium_principal
	AS 'MODULE_PATHNAME' LANGUAGE C VOLATILE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_act_as(uuid) IS
	'make a dashboard user the principal of this transaction without a token (superusers and billium_admin only)';

------------------------------------------------------------------------------------------------
-- Key management.  SECURITY DEFINER with a pinned search_path: they read and write the key
-- tables for callers who may not, after asking the gate.
------------------------------------------------------------------------------------------------

-- A key's grant must lie within the caller's own permissions on the merchant and within its
-- type's cap; otherwise 403 PERMISSION_DENIED naming the excess.  Internal.
CREATE FUNCTION @extschema@.billium_check_key_grant(merchant_id uuid, key_type text,
		permissions @extschema@.billium_permset, action text) RETURNS void
	LANGUAGE plpgsql STABLE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	excess @extschema@.billium_permset;
BEGIN
	excess := permissions OPERATOR(@extschema@.-) @extschema@.billium_principal_permissions(merchant_id);
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'the requested permissions exceed the caller''s own'));
	END IF;
	excess := permissions OPERATOR(@extschema@.-) @extschema@.billium_key_type_cap(key_type);
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'a public key holds at most invoice:create, invoice:view and product:view'));
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_check_key_grant(uuid, text, @extschema@.billium_permset, text) IS
	'internal: refuse a key grant beyond the caller''s own permissions or the key type''s cap';

CREATE FUNCTION @extschema@.billium_create_api_key(
		merchant_id uuid, key_type text, permissions @extschema@.billium_permset, name text,
		expires_at timestamptz DEFAULT NULL, OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal;
BEGIN
	caller := @extschema@.billium_authorize('api_keys.create', merchant_id);
	key_type := lower(key_type);
	PERFORM @extschema@.billium_check_key_grant(merchant_id, key_type, permissions, 'api_keys.create');
	api_key := @extschema@.billium_key_generate(key_type);
	INSERT INTO @extschema@.api_keys AS k (merchant_id, key_type, name, hint, key_hash, permissions,
										   created_by, created_by_key, expires_at)
	VALUES (billium_create_api_key.merchant_id, key_type, coalesce(name, ''),
			substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), permissions, caller.user_id, caller.key_id,
			billium_create_api_key.expires_at)
	RETURNING k.id INTO id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz) IS
	'create a key (needs api_key:create); the only time its plaintext exists';

CREATE FUNCTION @extschema@.billium_key_merchant(key_id uuid) RETURNS uuid
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	-- Another merchant's key looks exactly like one that does not exist: no tell of its existence.
	SELECT k.merchant_id FROM @extschema@.api_keys k
	WHERE k.id OPERATOR(pg_catalog.=) key_id
	  AND @extschema@.billium_principal_permissions(k.merchant_id) OPERATOR(@extschema@.<>) '{}'
$$;
COMMENT ON FUNCTION @extschema@.billium_key_merchant(uuid) IS
	'internal: the merchant of a key the caller has any permission on (else null), so management functions can ask the gate first';

CREATE FUNCTION @extschema@.billium_revoke_api_key(key_id uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.revoke', merchant);
	UPDATE @extschema@.api_keys SET revoked_at = coalesce(revoked_at, now())
	WHERE id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_revoke_api_key(uuid) IS
	'revoke a key (needs api_key:delete); every transaction after the commit refuses it';

CREATE FUNCTION @extschema@.billium_update_api_key(
		key_id uuid, permissions @extschema@.billium_permset DEFAULT NULL, name text DEFAULT NULL)
	RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	target @extschema@.api_keys;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.update', merchant);
	SELECT * INTO target FROM @extschema@.api_keys WHERE id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	IF permissions IS NOT NULL THEN
		PERFORM @extschema@.billium_check_key_grant(merchant, target.key_type, permissions, 'api_keys.update');
	END IF;
	UPDATE @extschema@.api_keys AS k
	SET permissions = coalesce(billium_update_api_key.permissions, k.permissions),
		name = coalesce(billium_update_api_key.name, k.name)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text) IS
	'change a key''s permissions or name (needs api_key:edit; the same caps as creating)';

CREATE FUNCTION @extschema@.billium_roll_api_key(key_id uuid, grace interval DEFAULT '0',
		OUT id uuid, OUT api_key text)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	caller @extschema@.billium_principal;
	old @extschema@.api_keys;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	caller := @extschema@.billium_authorize('api_keys.roll', merchant);
	SELECT * INTO old FROM @extschema@.api_keys k WHERE k.id OPERATOR(pg_catalog.=) key_id FOR UPDATE;
	IF NOT FOUND OR old.revoked_at IS NOT NULL THEN
		RAISE EXCEPTION 'the API key does not exist or is revoked' USING ERRCODE = 'no_data_found';
	END IF;
	IF grace < '0' THEN
		RAISE EXCEPTION 'grace period must not be negative' USING ERRCODE = 'invalid_parameter_value';
	END IF;
	api_key := @extschema@.billium_key_generate(old.key_type);
	-- The replacement keeps the grant, name, creator and expiry of the key it replaces.
	INSERT INTO @extschema@.api_keys AS k (merchant_id, key_type, name, hint, key_hash, permissions,
										   created_by, created_by_key, expires_at)
	VALUES (old.merchant_id, old.key_type, old.name, substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), old.permissions, old.created_by, caller.key_id,
			old.expires_at)
	RETURNING k.id INTO id;
	UPDATE @extschema@.api_keys k
	SET expires_at = least(coalesce(k.expires_at, 'infinity'), now() + grace)
	WHERE k.id OPERATOR(pg_catalog.=) key_id;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_roll_api_key(uuid, interval) IS
	'issue a replacement with the same grant and expire the old key after the grace period (needs api_key:edit)';

CREATE FUNCTION @extschema@.billium_explain_key(key_id uuid)
	RETURNS TABLE (step integer, name text, permissions @extschema@.billium_permset,
				   removed @extschema@.billium_permset)
	LANGUAGE plpgsql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid := @extschema@.billium_key_merchant(key_id);
	k @extschema@.api_keys;
	member @extschema@.team_members;
	role_cap @extschema@.billium_permset;
	acc @extschema@.billium_permset;
	next @extschema@.billium_permset;
BEGIN
	IF merchant IS NULL THEN
		RAISE EXCEPTION 'the API key does not exist' USING ERRCODE = 'no_data_found';
	END IF;
	PERFORM @extschema@.billium_authorize('api_keys.retrieve', merchant);
	SELECT * INTO k FROM @extschema@.api_keys t WHERE t.id OPERATOR(pg_catalog.=) key_id;
	SELECT * INTO member FROM @extschema@.team_members t
	WHERE t.merchant_id OPERATOR(pg_catalog.=) k.merchant_id AND t.user_id OPERATOR(pg_catalog.=) k.created_by;
	role_cap := CASE WHEN member.role IS NULL THEN '{}' ELSE @extschema@.billium_role_cap(member.role) END;

	acc := k.permissions;
	step := 1; name := 'granted'; permissions := acc; removed := '{}';
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) @extschema@.billium_key_type_cap(k.key_type);
	step := 2; name := 'key type cap (' || k.key_type || ')'; removed := acc OPERATOR(@extschema@.-) next;
	acc := next; permissions := acc;
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) role_cap;
	step := 3; name := 'creator''s role cap (' || coalesce(member.role, 'not on the team') || ')';
	removed := acc OPERATOR(@extschema@.-) next; acc := next; permissions := acc;
	RETURN NEXT;
	next := acc OPERATOR(@extschema@.&) coalesce(member.permissions, '{}');
	step := 4; name := 'creator''s grant'; removed := acc OPERATOR(@extschema@.-) next;
	acc := next; permissions := acc;
	RETURN NEXT;
	step := 5; removed := '{}';
	name := CASE WHEN k.revoked_at IS NOT NULL THEN 'effective (revoked: refused)'
				 WHEN k.expires_at <= now() THEN 'effective (expired: refused)'
				 ELSE 'effective' END;
	permissions := acc;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_explain_key(uuid) IS
	'why a key may or may not do something: each step and the permissions it removed (needs api_key:view)';

------------------------------------------------------------------------------------------------
-- Privileges: nothing new for PUBLIC; application roles get the API through billium_api.
------------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	@extschema@.billium_team_members_fill(),
	@extschema@.billium_invalidate_cache(),
	@extschema@.billium_deny(text, text, jsonb),
	@extschema@.billium_check_key_grant(uuid, text, @extschema@.billium_permset, text),
	@extschema@.billium_key_merchant(uuid),
	@extschema@.billium_key_generate(text),
	@extschema@.billium_key_is_well_formed(text),
	@extschema@.billium_key_verify(text),
	@extschema@.billium_authenticate(text),
	@extschema@.billium_current_principal(),
	@extschema@.billium_principal_permissions(uuid),
	@extschema@.billium_authorize(text, uuid),
	@extschema@.billium_act_as(uuid),
	@extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz),
	@extschema@.billium_revoke_api_key(uuid),
	@extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text),
	@extschema@.billium_roll_api_key(uuid, interval),
	@extschema@.billium_explain_key(uuid),
	@extschema@.billium_error_catalog()
FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
	@extschema@.billium_key_is_well_formed(text),
	@extschema@.billium_key_verify(text),
	@extschema@.billium_authenticate(text),
	@extschema@.billium_current_principal(),
	@extschema@.billium_principal_permissions(uuid),
	@extschema@.billium_authorize(text, uuid),
	@extschema@.billium_create_api_key(uuid, text, @extschema@.billium_permset, text, timestamptz),
	@extschema@.billium_revoke_api_key(uuid),
	@extschema@.billium_update_api_key(uuid, @extschema@.billium_permset, text),
	@extschema@.billium_roll_api_key(uuid, interval),
	@extschema@.billium_explain_key(uuid)
TO billium_api;
GRANT EXECUTE ON FUNCTION @extschema@.billium_act_as(uuid) TO billium_admin;
GRANT EXECUTE ON FUNCTION @extschema@.billium_error_catalog() TO PUBLIC;
GRANT SELECT ON @extschema@.actions TO PUBLIC;
