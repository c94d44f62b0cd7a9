/*
 * billium 0.2.0 -> 0.3.0: row-level security over the whole merchant model, team management,
 * the audit trail, test fixtures, and protecting a user's own tables.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- What policies ask: STABLE functions, wrapped as (SELECT ...) so each runs once per statement
-- (an InitPlan) and the merchant_id index is still used.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_merchants_with(permission text) RETURNS uuid[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_with(text) IS
	'the merchants where this transaction''s caller holds the permission (for policies)';

CREATE FUNCTION @extschema@.billium_merchants_listing(permission text) RETURNS uuid[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_listing(text) IS
	'as billium_merchants_with, but none for a pk key: public keys never enumerate';

CREATE FUNCTION @extschema@.billium_public_key_with(permission text) RETURNS uuid
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_public_key_with(text) IS
	'the caller''s key id when it is a pk key holding the permission, else null (pk keys see only what they created)';

REVOKE ALL ON FUNCTION @extschema@.billium_merchants_with(text),
	@extschema@.billium_merchants_listing(text), @extschema@.billium_public_key_with(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_merchants_with(text),
	@extschema@.billium_merchants_listing(text), @extschema@.billium_public_key_with(text)
	TO billium_api;

------------------------------------------------------------------------------------------------
-- Domain tables.
------------------------------------------------------------------------------------------------

-- The columns the policies read come first: a scan deforms each row up to the last column any
-- qual needs, and behind variable-width text that costs every row of a sequential scan.
CREATE TABLE @extschema@.invoices (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	created_by_key uuid,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	amount bigint NOT NULL CHECK (amount >= 0),
	currency text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
	description text NOT NULL DEFAULT '',
	created_by_user uuid,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

-- For the pk policy's half of the OR, so a listing can still be a bitmap index scan.
CREATE INDEX invoices_created_by_key ON @extschema@.invoices (created_by_key)
	WHERE created_by_key IS NOT NULL;

CREATE TABLE @extschema@.products (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	name text NOT NULL,
	price bigint NOT NULL DEFAULT 0 CHECK (price >= 0),
	currency text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

-- The creator of an invoice comes from the principal, never from the client.
CREATE FUNCTION @extschema@.billium_invoices_fill_creator() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
BEGIN
	-- A principal can never claim another creator.  Without one (a superuser loading data, a
	-- restore from pg_dump), the row keeps the creator it was given.
	IF caller.kind IS NOT NULL THEN	-- not "caller IS NOT NULL": that needs every field non-null
		NEW.created_by_key := caller.key_id;
		NEW.created_by_user := CASE WHEN caller.kind = 'user' THEN caller.user_id END;
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_invoices_fill_creator() IS
	'trigger: an invoice''s creator (key and dashboard user) comes from the principal, never from the client';
CREATE TRIGGER invoices_fill_creator BEFORE INSERT ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invoices_fill_creator();

ALTER TABLE @extschema@.invoices ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- view -> SELECT, create -> INSERT, edit -> UPDATE, delete -> DELETE.  pk keys see only the
-- invoices they created.
-- One OR of two leakproof comparisons: costed above a query's own merchant filter, so a
-- sequential scan tests that cheaper filter first, as it would without row-level security.
CREATE POLICY invoices_view ON @extschema@.invoices FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_listing('invoice:view'))::uuid[])
		   OR created_by_key OPERATOR(pg_catalog.=) (SELECT @extschema@.billium_public_key_with('invoice:view')));
CREATE POLICY invoices_create ON @extschema@.invoices FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:create'))::uuid[]));
CREATE POLICY invoices_edit ON @extschema@.invoices FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:edit'))::uuid[]));
CREATE POLICY invoices_delete ON @extschema@.invoices FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:delete'))::uuid[]));

CREATE POLICY products_view ON @extschema@.products FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:view'))::uuid[]));
CREATE POLICY products_create ON @extschema@.products FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:create'))::uuid[]));
CREATE POLICY products_edit ON @extschema@.products FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:edit'))::uuid[]));
CREATE POLICY products_delete ON @extschema@.products FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('product:delete'))::uuid[]));

GRANT USAGE ON SCHEMA @extschema@ TO billium_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.invoices, @extschema@.products TO billium_api;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.invoices', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.products', '');

------------------------------------------------------------------------------------------------
-- Who is writing.  The triggers that guard the team and the security flags let through the
-- extension's own SECURITY DEFINER functions (current_user is then the schema's owner), the
-- cascades of foreign keys (run as the referencing table's owner, the same role) and superusers
-- writing fixtures directly.  A custom setting would not do: any role may set one.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_internal_write() RETURNS boolean
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT FROM pg_catalog.pg_roles r
				   WHERE r.rolname OPERATOR(pg_catalog.=) current_user
					 AND (r.rolsuper
						  OR r.oid OPERATOR(pg_catalog.=) (SELECT n.nspowner FROM pg_catalog.pg_namespace n
														   WHERE n.oid OPERATOR(pg_catalog.=) '@extschema@'::pg_catalog.regnamespace)))
$$;
COMMENT ON FUNCTION @extschema@.billium_internal_write() IS
	'internal: is the current user a superuser or the extension''s owner (its own SECURITY DEFINER functions, foreign-key cascades)?';

-- Is the caller a dashboard user who is the merchant's OWNER?  (Reads the team as the owner, so
-- it answers the same whatever the caller may see.)
CREATE FUNCTION @extschema@.billium_is_owner(merchant_id uuid) RETURNS boolean
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT EXISTS (SELECT FROM @extschema@.billium_current_principal() AS p
						  JOIN @extschema@.team_members tm ON tm.user_id OPERATOR(pg_catalog.=) p.user_id
				   WHERE p.kind OPERATOR(pg_catalog.=) 'user'
					 AND tm.merchant_id OPERATOR(pg_catalog.=) billium_is_owner.merchant_id
					 AND tm.role OPERATOR(pg_catalog.=) 'OWNER')
$$;
COMMENT ON FUNCTION @extschema@.billium_is_owner(uuid) IS
	'is this transaction''s caller a dashboard user who is the merchant''s OWNER?';

-- The users the caller may see: itself (a dashboard session) and the teams where it holds
-- team:view.  For the users policy, as one array per statement.
CREATE FUNCTION @extschema@.billium_visible_users() RETURNS uuid[]
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT COALESCE(pg_catalog.array_agg(DISTINCT u.id), '{}'::pg_catalog.uuid[])
	FROM (SELECT p.user_id FROM @extschema@.billium_current_principal() AS p
		  WHERE p.kind OPERATOR(pg_catalog.=) 'user'
		  UNION ALL
		  SELECT tm.user_id FROM @extschema@.team_members tm
		  WHERE tm.merchant_id OPERATOR(pg_catalog.=) ANY (@extschema@.billium_merchants_with('team:view'))) AS u(id)
	WHERE u.id IS NOT NULL
$$;
COMMENT ON FUNCTION @extschema@.billium_visible_users() IS
	'the dashboard users this transaction''s caller may see: itself, and the teams where it holds team:view (for policies)';

------------------------------------------------------------------------------------------------
-- The audit trail: appended in the same transaction by triggers and by the extension's own
-- functions, as the extension's owner; nobody updates or deletes it through the API.  No
-- foreign key to merchants: a deleted merchant's history stays.  Writes without a principal (a
-- superuser provisioning) are logged with a null principal_kind, except when a restore reloads
-- the tables: logging those rows again would duplicate the restored trail and collide with its
-- ids.  A restore runs with row_security = off, where an ordinary role can write nothing here.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.audit_log (
	id bigserial PRIMARY KEY,
	merchant_id uuid NOT NULL,
	at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	category text NOT NULL CHECK (category IN ('api_key', 'team', 'security')),
	action text NOT NULL,
	principal_kind text,		-- 'api_key', 'user', or null when no principal (provisioning)
	user_id uuid,				-- the dashboard user, or the key's creator
	key_id uuid,				-- the key, when the principal is one
	before jsonb,
	after jsonb
);
CREATE INDEX audit_log_merchant_id ON @extschema@.audit_log (merchant_id, id);
COMMENT ON TABLE @extschema@.audit_log IS
	'append-only: every change to keys, team membership, roles, grants, ownership and security flags';

CREATE FUNCTION @extschema@.billium_audit(merchant_id uuid, category text, action text,
		before jsonb, after jsonb) RETURNS void
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO @extschema@.audit_log (merchant_id, category, action, principal_kind, user_id, key_id,
									   before, after)
	SELECT billium_audit.merchant_id, billium_audit.category, billium_audit.action, p.kind,
		   p.user_id, p.key_id, billium_audit.before, billium_audit.after
	FROM (SELECT (@extschema@.billium_current_principal()).*) AS p
	-- A restore (pg_dump's scripts SET row_security = off) reloads the tables with no principal:
	-- their rows are not new changes, and the trail is restored as it was.
	WHERE p.kind IS NOT NULL
	   OR pg_catalog.current_setting('row_security') OPERATOR(pg_catalog.<>) 'off'
$$;
COMMENT ON FUNCTION @extschema@.billium_audit(uuid, text, text, jsonb, jsonb) IS
	'internal: append a row to the audit trail with this transaction''s principal (not when a restore reloads the tables)';

-- A key as the audit trail shows it: never its hash.
CREATE FUNCTION @extschema@.billium_audit_key(k @extschema@.api_keys) RETURNS jsonb
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_build_object(
		'id', k.id, 'key_type', k.key_type, 'name', k.name, 'hint', k.hint,
		'permissions', @extschema@.billium_permset_names(k.permissions),
		'created_by', k.created_by, 'created_by_key', k.created_by_key,
		'expires_at', k.expires_at, 'revoked_at', k.revoked_at)
$$;
COMMENT ON FUNCTION @extschema@.billium_audit_key(@extschema@.api_keys) IS
	'internal: a key as the audit trail records it (every column but key_hash)';

CREATE FUNCTION @extschema@.billium_audit_member(m @extschema@.team_members) RETURNS jsonb
	LANGUAGE sql IMMUTABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_build_object('user_id', m.user_id, 'role', m.role,
										 'permissions', @extschema@.billium_permset_names(m.permissions))
$$;
COMMENT ON FUNCTION @extschema@.billium_audit_member(@extschema@.team_members) IS
	'internal: a team membership as the audit trail records it';

-- Keys: INSERT is a create; an UPDATE of revoked_at a revoke; of expires_at a roll (the old key
-- of billium_roll_api_key, whose replacement is the create logged just before); any other
-- change an edit.
CREATE FUNCTION @extschema@.billium_api_keys_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'api_key', 'api_keys.create', NULL,
										  @extschema@.billium_audit_key(NEW));
	ELSIF @extschema@.billium_audit_key(NEW) IS DISTINCT FROM @extschema@.billium_audit_key(OLD) THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'api_key',
			CASE WHEN NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN 'api_keys.revoke'
				 WHEN NEW.expires_at IS DISTINCT FROM OLD.expires_at THEN 'api_keys.roll'
				 ELSE 'api_keys.update' END,
			@extschema@.billium_audit_key(OLD), @extschema@.billium_audit_key(NEW));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_api_keys_audit() IS
	'trigger: audit a key''s create, edit, roll and revoke (never its hash)';
CREATE TRIGGER api_keys_audit AFTER INSERT OR UPDATE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_api_keys_audit();

------------------------------------------------------------------------------------------------
-- Domain tables beyond invoices and products.  Each leads with merchant_id (its index serves
-- the policies).
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.customers (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	name text NOT NULL,
	email text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

CREATE TABLE @extschema@.webhooks (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	url text NOT NULL,
	events text[] NOT NULL DEFAULT '{}',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

CREATE TABLE @extschema@.checkout_settings (
	merchant_id uuid PRIMARY KEY REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	settings jsonb NOT NULL DEFAULT '{}',
	updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE TABLE @extschema@.wallets (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	currency text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
	address text NOT NULL,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

-- The merchant's billing columns, 1:1 with merchants, so merchant:billing gates every command.
CREATE TABLE @extschema@.merchant_billing (
	merchant_id uuid PRIMARY KEY REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	plan text NOT NULL DEFAULT 'free',
	billing_email text NOT NULL DEFAULT ''
);

ALTER TABLE @extschema@.customers ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.webhooks ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.checkout_settings ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.wallets ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.merchant_billing ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.audit_log ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- customer: there is no customer:create; customer:edit creates and edits.
CREATE POLICY customers_view ON @extschema@.customers FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:view'))::uuid[]));
CREATE POLICY customers_create ON @extschema@.customers FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]));
CREATE POLICY customers_edit ON @extschema@.customers FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:edit'))::uuid[]));
CREATE POLICY customers_delete ON @extschema@.customers FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('customer:delete'))::uuid[]));

CREATE POLICY webhooks_view ON @extschema@.webhooks FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:view'))::uuid[]));
CREATE POLICY webhooks_create ON @extschema@.webhooks FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:create'))::uuid[]));
CREATE POLICY webhooks_edit ON @extschema@.webhooks FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:edit'))::uuid[]));
CREATE POLICY webhooks_delete ON @extschema@.webhooks FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('webhook:delete'))::uuid[]));

-- checkout: view, and edit for every write.
CREATE POLICY checkout_settings_view ON @extschema@.checkout_settings FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:view'))::uuid[]));
CREATE POLICY checkout_settings_create ON @extschema@.checkout_settings FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));
CREATE POLICY checkout_settings_edit ON @extschema@.checkout_settings FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));
CREATE POLICY checkout_settings_delete ON @extschema@.checkout_settings FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('checkout:edit'))::uuid[]));

CREATE FUNCTION @extschema@.billium_checkout_settings_touch() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	NEW.updated_at := now();
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_checkout_settings_touch() IS
	'trigger: a change to the checkout settings sets updated_at';
CREATE TRIGGER checkout_settings_touch BEFORE UPDATE ON @extschema@.checkout_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_checkout_settings_touch();

CREATE POLICY wallets_view ON @extschema@.wallets FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:view'))::uuid[]));
CREATE POLICY wallets_create ON @extschema@.wallets FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:create'))::uuid[]));
CREATE POLICY wallets_edit ON @extschema@.wallets FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:edit'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:edit'))::uuid[]));
CREATE POLICY wallets_delete ON @extschema@.wallets FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('wallet:delete'))::uuid[]));

CREATE POLICY merchant_billing_view ON @extschema@.merchant_billing FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_create ON @extschema@.merchant_billing FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_edit ON @extschema@.merchant_billing FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));
CREATE POLICY merchant_billing_delete ON @extschema@.merchant_billing FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:billing'))::uuid[]));

-- Reports: invoice totals per merchant, currency and status.  The view reads invoices as its
-- owner (the extension's), so report:view alone suffices; the security barrier keeps a
-- caller's own conditions from running before the filter.
CREATE VIEW @extschema@.reports WITH (security_barrier) AS
	SELECT i.merchant_id, i.currency, i.status, pg_catalog.count(*) AS count, pg_catalog.sum(i.amount) AS sum
	FROM @extschema@.invoices i
	WHERE i.merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('report:view'))::uuid[])
	GROUP BY i.merchant_id, i.currency, i.status;
COMMENT ON VIEW @extschema@.reports IS
	'per merchant, currency and status: the count and sum(amount) of invoices, where the caller holds report:view';

-- The audit trail: key events need api_key:view, team and security events team:view.
CREATE POLICY audit_log_view ON @extschema@.audit_log FOR SELECT
	USING ((category OPERATOR(pg_catalog.=) 'api_key'
			AND merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('api_key:view'))::uuid[]))
		   OR (category OPERATOR(pg_catalog.<>) 'api_key'
			   AND merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:view'))::uuid[])));

------------------------------------------------------------------------------------------------
-- Policies on the tables of 0.2.0.
------------------------------------------------------------------------------------------------

-- merchants: no INSERT policy; billium_create_merchant opens them.
CREATE POLICY merchants_view ON @extschema@.merchants FOR SELECT
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:view'))::uuid[]));
CREATE POLICY merchants_edit ON @extschema@.merchants FOR UPDATE
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:edit'))::uuid[]))
	WITH CHECK (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:edit'))::uuid[]));
CREATE POLICY merchants_delete ON @extschema@.merchants FOR DELETE
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('merchant:delete'))::uuid[]));

-- The security flags: only the merchant's OWNER, in a dashboard session, changes them; every
-- change is audited.
CREATE FUNCTION @extschema@.billium_merchants_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF (NEW.enforce_tfa, NEW.enforce_passkey, NEW.enforce_google_login, NEW.enforce_github_login,
		NEW.enforce_email_verified)
	   IS DISTINCT FROM
	   (OLD.enforce_tfa, OLD.enforce_passkey, OLD.enforce_google_login, OLD.enforce_github_login,
		OLD.enforce_email_verified)
	   AND NOT @extschema@.billium_internal_write()
	   AND NOT @extschema@.billium_is_owner(OLD.id) THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'merchants.update',
			jsonb_build_object('reason', 'only the merchant''s OWNER, in a dashboard session, may change its security requirements'));
	END IF;
	IF NEW.id IS DISTINCT FROM OLD.id AND NOT @extschema@.billium_internal_write() THEN
		RAISE EXCEPTION 'a merchant''s id cannot change' USING ERRCODE = 'insufficient_privilege';
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_merchants_guard() IS
	'trigger: only the merchant''s OWNER (a dashboard session) changes the enforce_* security flags';
CREATE TRIGGER merchants_guard BEFORE UPDATE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_merchants_guard();

CREATE FUNCTION @extschema@.billium_merchants_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	before jsonb := jsonb_build_object('enforce_tfa', OLD.enforce_tfa, 'enforce_passkey', OLD.enforce_passkey,
		'enforce_google_login', OLD.enforce_google_login, 'enforce_github_login', OLD.enforce_github_login,
		'enforce_email_verified', OLD.enforce_email_verified);
	after jsonb := jsonb_build_object('enforce_tfa', NEW.enforce_tfa, 'enforce_passkey', NEW.enforce_passkey,
		'enforce_google_login', NEW.enforce_google_login, 'enforce_github_login', NEW.enforce_github_login,
		'enforce_email_verified', NEW.enforce_email_verified);
BEGIN
	IF before OPERATOR(pg_catalog.<>) after THEN
		PERFORM @extschema@.billium_audit(NEW.id, 'security', 'merchants.update_security', before, after);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_merchants_audit() IS
	'trigger: audit every change to a merchant''s security flags';
CREATE TRIGGER merchants_audit AFTER UPDATE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_merchants_audit();

-- users: a dashboard session sees itself; team:view shows the team.  No writes through the API.
CREATE POLICY users_view ON @extschema@.users FOR SELECT
	USING (id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_visible_users())::uuid[]));

-- team_members: view, invite, manage roles, remove.
CREATE POLICY team_members_view ON @extschema@.team_members FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:view'))::uuid[]));
CREATE POLICY team_members_invite ON @extschema@.team_members FOR INSERT
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:invite'))::uuid[]));
CREATE POLICY team_members_manage_roles ON @extschema@.team_members FOR UPDATE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:manage_roles'))::uuid[]))
	WITH CHECK (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:manage_roles'))::uuid[]));
CREATE POLICY team_members_remove ON @extschema@.team_members FOR DELETE
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('team:remove'))::uuid[]));

-- Nobody grants a role or permissions above their own, and the one OWNER is neither added,
-- removed nor demoted except by billium_create_merchant and billium_transfer_ownership.  Runs
-- after team_members_fill (triggers fire in name order), so the role is upper case and the
-- grant filled in.
CREATE FUNCTION @extschema@.billium_team_members_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	action text := CASE TG_OP WHEN 'INSERT' THEN 'team.invite' WHEN 'UPDATE' THEN 'team.update_role'
							  ELSE 'team.remove' END;
	own @extschema@.billium_permset;
	excess @extschema@.billium_permset;
BEGIN
	IF @extschema@.billium_internal_write() THEN
		RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
	END IF;
	IF TG_OP = 'UPDATE' THEN
		IF NEW.merchant_id IS DISTINCT FROM OLD.merchant_id OR NEW.user_id IS DISTINCT FROM OLD.user_id THEN
			RAISE EXCEPTION 'a team membership cannot move to another merchant or user'
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		IF NEW.role = OLD.role AND NEW.permissions OPERATOR(@extschema@.=) OLD.permissions THEN
			RETURN NEW;		-- nothing changes, nothing is granted
		END IF;
	END IF;
	IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.role = 'OWNER' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('reason', 'the OWNER cannot be removed or demoted; use billium_transfer_ownership'));
	END IF;
	IF TG_OP = 'DELETE' THEN
		RETURN OLD;
	END IF;
	IF NEW.role = 'OWNER' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('reason', 'a merchant has exactly one OWNER; use billium_transfer_ownership'));
	END IF;
	own := @extschema@.billium_principal_permissions(NEW.merchant_id);
	excess := (NEW.permissions OPERATOR(@extschema@.|) @extschema@.billium_role_cap(NEW.role))
			  OPERATOR(@extschema@.-) own;
	IF excess OPERATOR(@extschema@.<>) '{}' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', action,
			jsonb_build_object('excess', @extschema@.billium_permset_names(excess),
							   'reason', 'the role or permissions exceed the caller''s own'));
	END IF;
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_team_members_guard() IS
	'trigger: nobody grants a role or permissions above their own; the OWNER changes only through billium_transfer_ownership';
CREATE TRIGGER team_members_guard BEFORE INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_team_members_guard();

CREATE FUNCTION @extschema@.billium_team_members_audit() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	IF TG_OP = 'INSERT' THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'team', 'team.invite', NULL,
										  @extschema@.billium_audit_member(NEW));
	ELSIF TG_OP = 'DELETE' THEN
		PERFORM @extschema@.billium_audit(OLD.merchant_id, 'team', 'team.remove',
										  @extschema@.billium_audit_member(OLD), NULL);
	ELSIF NEW.role IS DISTINCT FROM OLD.role OR NEW.permissions OPERATOR(@extschema@.<>) OLD.permissions THEN
		PERFORM @extschema@.billium_audit(NEW.merchant_id, 'team', 'team.update_role',
										  @extschema@.billium_audit_member(OLD),
										  @extschema@.billium_audit_member(NEW));
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_team_members_audit() IS
	'trigger: audit every change to team membership, roles and grants';
CREATE TRIGGER team_members_audit AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_team_members_audit();

-- api_keys: readable with api_key:view, every column but key_hash (see the grants below);
-- written only by the key functions.
CREATE POLICY api_keys_view ON @extschema@.api_keys FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('api_key:view'))::uuid[]));

------------------------------------------------------------------------------------------------
-- Opening a merchant and handing it on.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_create_merchant(name text) RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	merchant uuid;
BEGIN
	IF caller.kind IS NULL THEN
		PERFORM @extschema@.billium_deny('API_KEY_MISSING', 'merchants.create');
	ELSIF caller.kind OPERATOR(pg_catalog.<>) 'user' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'merchants.create',
			jsonb_build_object('reason', 'only a dashboard session may open a merchant'));
	END IF;
	INSERT INTO @extschema@.merchants AS m (name) VALUES (billium_create_merchant.name)
	RETURNING m.id INTO merchant;
	INSERT INTO @extschema@.team_members (merchant_id, user_id, role)
	VALUES (merchant, caller.user_id, 'OWNER');
	RETURN merchant;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_create_merchant(text) IS
	'open a merchant with the calling dashboard user as its OWNER (any dashboard session; never a key)';

CREATE FUNCTION @extschema@.billium_transfer_ownership(merchant_id uuid, new_owner uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	target @extschema@.team_members;
BEGIN
	IF caller.kind IS NULL THEN
		PERFORM @extschema@.billium_deny('API_KEY_MISSING', 'team.transfer_ownership');
	ELSIF caller.kind OPERATOR(pg_catalog.<>) 'user' THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'team.transfer_ownership',
			jsonb_build_object('reason', 'only the OWNER, in a dashboard session, may transfer ownership'));
	END IF;
	-- Lock the team's rows, then ask: two transfers of one merchant take turns.
	PERFORM FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id FOR UPDATE;
	IF NOT @extschema@.billium_is_owner(billium_transfer_ownership.merchant_id) THEN
		PERFORM @extschema@.billium_deny('PERMISSION_DENIED', 'team.transfer_ownership',
			jsonb_build_object('reason', 'only the OWNER, in a dashboard session, may transfer ownership'));
	END IF;
	SELECT * INTO target FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) new_owner;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'user % is not on the team of merchant %', new_owner, billium_transfer_ownership.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF target.role = 'OWNER' THEN
		RAISE EXCEPTION 'user % is already the OWNER of merchant %', new_owner, billium_transfer_ownership.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	-- The old OWNER becomes an ADMIN (with the ADMIN's full grant); then the new one takes over.
	UPDATE @extschema@.team_members tm SET role = 'ADMIN'
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) caller.user_id;
	UPDATE @extschema@.team_members tm
	SET role = 'OWNER', permissions = @extschema@.billium_role_cap('OWNER')
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_transfer_ownership.merchant_id
	  AND tm.user_id OPERATOR(pg_catalog.=) new_owner;
	PERFORM @extschema@.billium_audit(billium_transfer_ownership.merchant_id, 'team', 'team.transfer_ownership',
		jsonb_build_object('owner', caller.user_id), jsonb_build_object('owner', new_owner));
END
$$;
COMMENT ON FUNCTION @extschema@.billium_transfer_ownership(uuid, uuid) IS
	'make a team member the OWNER; the old OWNER becomes ADMIN (the OWNER alone, in a dashboard session)';

------------------------------------------------------------------------------------------------
-- Fixtures for users' own pgTAP suites: superusers and billium_admin only.  They write as the
-- extension's owner, past the policies and the team guard, and are audited like any change.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_test_user(email text) RETURNS uuid
	LANGUAGE sql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	INSERT INTO @extschema@.users AS u (email) VALUES (billium_test_user.email)
	ON CONFLICT (email) DO UPDATE SET email = EXCLUDED.email
	RETURNING u.id
$$;
COMMENT ON FUNCTION @extschema@.billium_test_user(text) IS
	'test fixture: the dashboard user with this email, created when missing (superusers and billium_admin only)';

CREATE FUNCTION @extschema@.billium_test_merchant(name text, owner_email text)
	RETURNS TABLE (merchant_id uuid, owner_id uuid)
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	merchant uuid;
	owner uuid := @extschema@.billium_test_user(owner_email);
BEGIN
	INSERT INTO @extschema@.merchants AS m (name) VALUES (billium_test_merchant.name) RETURNING m.id INTO merchant;
	INSERT INTO @extschema@.team_members (merchant_id, user_id, role) VALUES (merchant, owner, 'OWNER');
	merchant_id := merchant;
	owner_id := owner;
	RETURN NEXT;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_merchant(text, text) IS
	'test fixture: a new merchant and its OWNER (the user with owner_email, created when missing); superusers and billium_admin only';

CREATE FUNCTION @extschema@.billium_test_member(merchant_id uuid, email text, role text) RETURNS uuid
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	member uuid := @extschema@.billium_test_user(email);
BEGIN
	INSERT INTO @extschema@.team_members AS tm (merchant_id, user_id, role)
	VALUES (billium_test_member.merchant_id, member, billium_test_member.role)
	ON CONFLICT ON CONSTRAINT team_members_pkey DO UPDATE
	SET role = upper(EXCLUDED.role), permissions = @extschema@.billium_role_cap(EXCLUDED.role);
	RETURN member;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_member(uuid, text, text) IS
	'test fixture: put the user with this email (created when missing) on the team with the role''s full grant; returns the user id; superusers and billium_admin only';

CREATE FUNCTION @extschema@.billium_test_key(merchant_id uuid, key_type text,
		permissions @extschema@.billium_permset) RETURNS text
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	creator uuid;
	api_key text;
BEGIN
	SELECT tm.user_id INTO creator FROM @extschema@.team_members tm
	WHERE tm.merchant_id OPERATOR(pg_catalog.=) billium_test_key.merchant_id AND tm.role = 'OWNER';
	IF NOT FOUND THEN
		RAISE EXCEPTION 'merchant % has no OWNER', billium_test_key.merchant_id
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	api_key := @extschema@.billium_key_generate(lower(key_type));
	INSERT INTO @extschema@.api_keys (merchant_id, key_type, name, hint, key_hash, permissions, created_by)
	VALUES (billium_test_key.merchant_id, lower(key_type), 'test', substr(api_key, 1, 3) || '...' || right(api_key, 4),
			sha256(convert_to(api_key, 'UTF8')), billium_test_key.permissions, creator);
	RETURN api_key;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_test_key(uuid, text, @extschema@.billium_permset) IS
	'test fixture: a key of the merchant created by its OWNER with these permissions; returns the plaintext (superusers and billium_admin only)';

------------------------------------------------------------------------------------------------
-- A user's own tables under the same policies: billium_protect_table(tbl, domain, column)
-- enables and forces row-level security and creates billium_<domain>_{view,create,edit,delete};
-- billium_unprotect_table removes exactly those and restores the row-level security settings
-- the table had before (kept in the comment of the view policy).  SECURITY INVOKER: the caller
-- must own the table.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_protect_table(tbl regclass, domain text,
		merchant_column name DEFAULT 'merchant_id') RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rel record;
	coltype oid;
	verb text;
	perm text;
	cmd text;
	qual text;
	note text;
	was_enabled boolean;
	was_forced boolean;
	old record;
BEGIN
	IF tbl IS NULL OR domain IS NULL OR merchant_column IS NULL THEN
		RAISE EXCEPTION 'billium_protect_table: table, domain and column must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relkind, c.relowner, c.relrowsecurity, c.relforcerowsecurity, c.relname, n.nspname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF rel.relkind NOT IN ('r', 'p') THEN
		RAISE EXCEPTION '% is not a table', tbl USING ERRCODE = 'wrong_object_type';
	END IF;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF NOT EXISTS (SELECT FROM @extschema@.permissions p
				   WHERE p.domain OPERATOR(pg_catalog.=) billium_protect_table.domain) THEN
		RAISE EXCEPTION 'unknown permission domain "%"', domain USING ERRCODE = 'invalid_parameter_value',
			HINT = 'The domains are ' || (SELECT string_agg(DISTINCT p.domain, ', ') FROM @extschema@.permissions p) || '.';
	END IF;
	SELECT a.atttypid INTO coltype FROM pg_attribute a
	WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) merchant_column
	  AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'column "%" of relation % does not exist', merchant_column, tbl
			USING ERRCODE = 'undefined_column';
	END IF;
	IF coltype OPERATOR(pg_catalog.<>) 'pg_catalog.uuid'::pg_catalog.regtype THEN
		RAISE EXCEPTION 'column "%" of relation % is of type %, not uuid', merchant_column, tbl,
			coltype::regtype USING ERRCODE = 'datatype_mismatch';
	END IF;

	-- Called again: keep the settings from before the first call, and replace the policies
	-- (whatever domain they were for).
	was_enabled := rel.relrowsecurity;
	was_forced := rel.relforcerowsecurity;
	FOR old IN SELECT * FROM @extschema@.billium_protect_policies(tbl) LOOP
		IF old.note IS NOT NULL THEN
			was_enabled := strpos(old.note, 'row level security was enabled') OPERATOR(pg_catalog.>) 0;
			was_forced := strpos(old.note, 'and forced') OPERATOR(pg_catalog.>) 0;
		END IF;
		EXECUTE format('DROP POLICY %I ON %I.%I', old.policy, rel.nspname, rel.relname);
	END LOOP;

	EXECUTE format('ALTER TABLE %I.%I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY',
				   rel.nspname, rel.relname);
	FOREACH verb IN ARRAY ARRAY['view', 'create', 'edit', 'delete'] LOOP
		-- The domain's own permission; a domain without create or delete (customer, checkout)
		-- uses edit; with neither (report) the command is refused.
		SELECT p.name INTO perm FROM @extschema@.permissions p
		WHERE p.name OPERATOR(pg_catalog.=) ANY (ARRAY[billium_protect_table.domain || ':' || verb,
														billium_protect_table.domain || ':edit'])
		ORDER BY p.name OPERATOR(pg_catalog.<>) (billium_protect_table.domain || ':' || verb) LIMIT 1;
		IF NOT FOUND THEN
			perm := NULL;
		END IF;
		qual := CASE WHEN perm IS NULL THEN 'false'
					 ELSE format('%I OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with(%L))::pg_catalog.uuid[])',
								 merchant_column, perm) END;
		cmd := CASE verb WHEN 'view' THEN format('FOR SELECT USING (%s)', qual)
						 WHEN 'create' THEN format('FOR INSERT WITH CHECK (%s)', qual)
						 WHEN 'edit' THEN format('FOR UPDATE USING (%s) WITH CHECK (%s)', qual, qual)
						 ELSE format('FOR DELETE USING (%s)', qual) END;
		EXECUTE format('CREATE POLICY %I ON %I.%I %s', 'billium_' || domain || '_' || verb,
					   rel.nspname, rel.relname, cmd);
		note := format('added by billium_protect_table: %s needs %s', verb, coalesce(perm, 'a permission the domain lacks'));
		IF verb = 'view' THEN
			note := note || format('; before it, row level security was %s',
								   CASE WHEN NOT was_enabled AND NOT was_forced THEN 'disabled and not forced'
										WHEN NOT was_enabled THEN 'disabled and forced'
										WHEN NOT was_forced THEN 'enabled and not forced'
										ELSE 'enabled and forced' END);
		END IF;
		EXECUTE format('COMMENT ON POLICY %I ON %I.%I IS %L', 'billium_' || domain || '_' || verb,
					   rel.nspname, rel.relname, note);
	END LOOP;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_protect_table(regclass, text, name) IS
	'put a table of your own under billium''s policies for a domain: enables and forces row-level security and creates billium_<domain>_{view,create,edit,delete} (the table''s owner; calling it again is harmless)';

-- The policies billium_protect_table added to a table, and for the view policy its note.
CREATE FUNCTION @extschema@.billium_protect_policies(tbl regclass, OUT policy name, OUT note text)
	RETURNS SETOF record
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pol.polname,
		   CASE WHEN pol.polname::text LIKE '%\_view' THEN d.description END
	FROM pg_policy pol
	LEFT JOIN pg_description d ON d.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_policy'::pg_catalog.regclass
							  AND d.objoid OPERATOR(pg_catalog.=) pol.oid AND d.objsubid OPERATOR(pg_catalog.=) 0
	WHERE pol.polrelid OPERATOR(pg_catalog.=) tbl
	  AND pol.polname::text OPERATOR(pg_catalog.=) ANY (
		  SELECT 'billium_' || dom.domain || '_' || v.verb
		  FROM (SELECT DISTINCT p.domain FROM @extschema@.permissions p) AS dom,
			   (VALUES ('view'), ('create'), ('edit'), ('delete')) AS v(verb))
	ORDER BY pol.polname::text LIKE '%\_view', pol.polname
$$;
COMMENT ON FUNCTION @extschema@.billium_protect_policies(regclass) IS
	'the policies billium_protect_table added to the table (the view policy last, with its note)';

CREATE FUNCTION @extschema@.billium_unprotect_table(tbl regclass) RETURNS void
	LANGUAGE plpgsql VOLATILE SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	rel record;
	old record;
	was_enabled boolean;
	was_forced boolean;
BEGIN
	IF tbl IS NULL THEN
		RAISE EXCEPTION 'billium_unprotect_table: table must not be null' USING ERRCODE = 'null_value_not_allowed';
	END IF;
	SELECT c.relowner, c.relname, n.nspname INTO rel
	FROM pg_class c JOIN pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	WHERE c.oid OPERATOR(pg_catalog.=) tbl;
	IF NOT pg_has_role(current_user, rel.relowner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of table %', tbl USING ERRCODE = 'insufficient_privilege';
	END IF;
	FOR old IN SELECT * FROM @extschema@.billium_protect_policies(tbl) LOOP
		IF old.note IS NOT NULL THEN
			was_enabled := strpos(old.note, 'row level security was enabled') OPERATOR(pg_catalog.>) 0;
			was_forced := strpos(old.note, 'and forced') OPERATOR(pg_catalog.>) 0;
		END IF;
		EXECUTE format('DROP POLICY %I ON %I.%I', old.policy, rel.nspname, rel.relname);
	END LOOP;
	IF was_enabled IS NOT NULL AND NOT was_enabled THEN
		EXECUTE format('ALTER TABLE %I.%I DISABLE ROW LEVEL SECURITY', rel.nspname, rel.relname);
	END IF;
	IF was_forced IS NOT NULL AND NOT was_forced THEN
		EXECUTE format('ALTER TABLE %I.%I NO FORCE ROW LEVEL SECURITY', rel.nspname, rel.relname);
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_unprotect_table(regclass) IS
	'undo billium_protect_table: drop its billium_<domain>_<verb> policies and restore the row-level security settings from before (the table''s owner)';

------------------------------------------------------------------------------------------------
-- Privileges.  billium_api: what application login roles need; PUBLIC: nothing new.
------------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	@extschema@.billium_invoices_fill_creator(),
	@extschema@.billium_internal_write(),
	@extschema@.billium_is_owner(uuid),
	@extschema@.billium_visible_users(),
	@extschema@.billium_audit(uuid, text, text, jsonb, jsonb),
	@extschema@.billium_audit_key(@extschema@.api_keys),
	@extschema@.billium_audit_member(@extschema@.team_members),
	@extschema@.billium_api_keys_audit(),
	@extschema@.billium_checkout_settings_touch(),
	@extschema@.billium_merchants_guard(),
	@extschema@.billium_merchants_audit(),
	@extschema@.billium_team_members_guard(),
	@extschema@.billium_team_members_audit(),
	@extschema@.billium_create_merchant(text),
	@extschema@.billium_transfer_ownership(uuid, uuid),
	@extschema@.billium_test_user(text),
	@extschema@.billium_test_merchant(text, text),
	@extschema@.billium_test_member(uuid, text, text),
	@extschema@.billium_test_key(uuid, text, @extschema@.billium_permset),
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass)
FROM PUBLIC;

-- The guard triggers run as the writer, so the writer needs what they call.  billium_deny only
-- raises the envelope error.
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_internal_write(),
	@extschema@.billium_is_owner(uuid),
	@extschema@.billium_visible_users(),
	@extschema@.billium_deny(text, text, jsonb),
	@extschema@.billium_create_merchant(text),
	@extschema@.billium_transfer_ownership(uuid, uuid),
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass)
TO billium_api;
GRANT EXECUTE ON FUNCTION
	@extschema@.billium_test_user(text),
	@extschema@.billium_test_merchant(text, text),
	@extschema@.billium_test_member(uuid, text, text),
	@extschema@.billium_test_key(uuid, text, @extschema@.billium_permset),
	@extschema@.billium_protect_table(regclass, text, name),
	@extschema@.billium_protect_policies(regclass),
	@extschema@.billium_unprotect_table(regclass)
TO billium_admin;

GRANT SELECT, INSERT, UPDATE, DELETE ON
	@extschema@.customers, @extschema@.webhooks, @extschema@.checkout_settings, @extschema@.wallets,
	@extschema@.merchant_billing
TO billium_api;
GRANT SELECT, DELETE ON @extschema@.merchants TO billium_api;
GRANT UPDATE (name, enforce_tfa, enforce_passkey, enforce_google_login, enforce_github_login,
			  enforce_email_verified) ON @extschema@.merchants TO billium_api;
GRANT SELECT ON @extschema@.users TO billium_api;
GRANT SELECT, INSERT, DELETE ON @extschema@.team_members TO billium_api;
GRANT UPDATE (role, permissions) ON @extschema@.team_members TO billium_api;
GRANT SELECT (id, merchant_id, key_type, name, hint, permissions, created_by, created_by_key,
			  created_at, expires_at, revoked_at) ON @extschema@.api_keys TO billium_api;
GRANT SELECT ON @extschema@.audit_log, @extschema@.reports TO billium_api;

SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.checkout_settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.merchant_billing', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.audit_log_id_seq', '');
