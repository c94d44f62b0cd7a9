/* billium: the merchant model and the domain tables, their row-level security switch, cache
 * invalidation, pg_dump registration and table privileges.  Their policies are in policies.sql. */

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
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- A merchant's own rate limit; null: the setting.  Only a superuser or the extension's owner
	-- sets them: billium_api's UPDATE grant on merchants names its columns, and these are not
	-- among them.  A change reaches every backend at commit through merchants_invalidate_cache.
	rate_limit real CHECK (rate_limit >= 0 AND rate_limit <= 1000000),
	rate_burst integer CHECK (rate_burst BETWEEN 1 AND 1000000)
);
COMMENT ON COLUMN @extschema@.merchants.rate_limit IS
	'requests per second this merchant''s API keys may make; 0: not limited; null: billium.rate_limit';
COMMENT ON COLUMN @extschema@.merchants.rate_burst IS
	'requests a full bucket admits at once; null: billium.rate_burst';

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
	-- Set together with revoked_at when a report revokes the key (and only then): verification
	-- answers API_KEY_LEAKED instead of API_KEY_REVOKED for it.
	leaked_at timestamptz,
	leak_source_url text,
	-- A replacement made by billium_roll_api_key: what it replaced and who rolled it.  A record,
	-- like the audit trail: no foreign keys, so it outlives the keys and users it names.
	rolled_from uuid,
	rolled_by_user uuid,
	rolled_by_key uuid,
	CONSTRAINT api_keys_within_type_cap
		CHECK (permissions OPERATOR(@extschema@.<@) @extschema@.billium_key_type_cap(key_type))
);
CREATE INDEX api_keys_merchant_id ON @extschema@.api_keys (merchant_id);
CREATE INDEX api_keys_created_by ON @extschema@.api_keys (created_by);
COMMENT ON COLUMN @extschema@.api_keys.leaked_at IS
	'when a secret scanner reported the key leaked and it was revoked for it (billium_report_leaked_keys)';
COMMENT ON COLUMN @extschema@.api_keys.leak_source_url IS
	'where the scanner found the key (the URL it reported)';
COMMENT ON COLUMN @extschema@.api_keys.rolled_from IS
	'the key this one replaced (billium_roll_api_key); null for a key created afresh';
COMMENT ON COLUMN @extschema@.api_keys.rolled_by_user IS
	'who rolled it: the dashboard user, or the rolling key''s creator';
COMMENT ON COLUMN @extschema@.api_keys.rolled_by_key IS
	'the key that rolled it, when a key did';
-- Descendants (keys minted by a key) are found through their parent.
CREATE INDEX api_keys_created_by_key ON @extschema@.api_keys (created_by_key)
	WHERE created_by_key IS NOT NULL;

ALTER TABLE @extschema@.merchants ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.users ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.team_members ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.api_keys ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

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

-- A user's factors decide which merchants their sessions reach: enabling one takes effect at the
-- user's next transaction in every backend, as a change of keys or teams does.
CREATE TRIGGER users_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();

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

------------------------------------------------------------------------------------------------
-- pg_dump keeps the rows.
------------------------------------------------------------------------------------------------

SELECT pg_catalog.pg_extension_config_dump('@extschema@.merchants', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.users', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.team_members', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.api_keys', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.invoices', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.products', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.customers', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.webhooks', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.checkout_settings', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.wallets', '');
SELECT pg_catalog.pg_extension_config_dump('@extschema@.merchant_billing', '');

------------------------------------------------------------------------------------------------
-- Privileges.  PUBLIC: nothing; billium_api: what application login roles need.
------------------------------------------------------------------------------------------------

REVOKE ALL ON FUNCTION
	@extschema@.billium_team_members_fill(),
	@extschema@.billium_invoices_fill_creator(),
	@extschema@.billium_checkout_settings_touch()
FROM PUBLIC;

GRANT USAGE ON SCHEMA @extschema@ TO billium_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON @extschema@.invoices, @extschema@.products TO billium_api;
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
			  created_at, expires_at, revoked_at, leaked_at, leak_source_url, rolled_from,
			  rolled_by_user, rolled_by_key) ON @extschema@.api_keys
	TO billium_api;
