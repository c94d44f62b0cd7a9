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

-- A merchant's security requirements as one jsonb object (enforce column -> flag), its columns
-- read from billium.security_factors: what the guard compares and the audit trail records.
CREATE FUNCTION @extschema@.billium_security_flags(merchant @extschema@.merchants) RETURNS jsonb
	LANGUAGE sql STABLE SET search_path = pg_catalog, pg_temp AS $$
	SELECT pg_catalog.jsonb_object_agg(f.enforce_column,
									   pg_catalog.to_jsonb(merchant) OPERATOR(pg_catalog.->) f.enforce_column)
	  FROM @extschema@.security_factors f
$$;
COMMENT ON FUNCTION @extschema@.billium_security_flags(@extschema@.merchants) IS
	'internal: the merchant''s enforce_* flags as a jsonb object, the columns named by billium.security_factors';
REVOKE ALL ON FUNCTION @extschema@.billium_security_flags(@extschema@.merchants) FROM PUBLIC;

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

-- Verified keys, users' merchants and merchants' rate limits are cached (per backend, and keys in
-- shared memory when billium is preloaded: src/cache.c).  A write makes stale only what depends on
-- the merchants and users of its rows: a key depends on its merchant's keys and team, a user's
-- merchants on the user's team rows and factors and on the merchants' requirements.  Per row, so
-- the trigger knows which; TRUNCATE (enabled ALWAYS, as an applied one fires in replica mode too)
-- makes everything stale.  Updates of users count only when a factor changes.
CREATE TRIGGER api_keys_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER team_members_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER merchants_invalidate_cache
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER users_invalidate_cache
	AFTER UPDATE OF id, tfa_enabled, passkey_enabled, google_linked, github_linked, email_verified
	ON @extschema@.users FOR EACH ROW
	WHEN (OLD.id IS DISTINCT FROM NEW.id OR OLD.tfa_enabled IS DISTINCT FROM NEW.tfa_enabled
		  OR OLD.passkey_enabled IS DISTINCT FROM NEW.passkey_enabled
		  OR OLD.google_linked IS DISTINCT FROM NEW.google_linked
		  OR OLD.github_linked IS DISTINCT FROM NEW.github_linked
		  OR OLD.email_verified IS DISTINCT FROM NEW.email_verified)
	EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER users_invalidate_cache_delete
	AFTER DELETE ON @extschema@.users
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
CREATE TRIGGER api_keys_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.api_keys ENABLE ALWAYS TRIGGER api_keys_invalidate_truncate;
CREATE TRIGGER team_members_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.team_members
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.team_members ENABLE ALWAYS TRIGGER team_members_invalidate_truncate;
CREATE TRIGGER merchants_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.merchants
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.merchants ENABLE ALWAYS TRIGGER merchants_invalidate_truncate;
CREATE TRIGGER users_invalidate_truncate
	AFTER TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.users ENABLE ALWAYS TRIGGER users_invalidate_truncate;

-- Logical replication: regional nodes subscribed to merchants, users, team_members and api_keys
-- (docs/replication.md).

-- A subscriber's apply worker runs with session_replication_role = replica: it fires no statement
-- trigger for the rows it applies, and no row trigger unless enabled REPLICA or ALWAYS.  These row
-- triggers are enabled REPLICA, so they fire there (and in a superuser's replica-mode session),
-- never in an ordinary session, where the *_invalidate_cache triggers already do the work: every
-- backend of the subscriber forgets what an applied change makes stale.  An applied TRUNCATE fires
-- the *_invalidate_truncate triggers, enabled ALWAYS.  The audit, creator-fill and guard
-- triggers stay enabled ORIGIN: they ran on the origin, and the applied rows carry their result.
CREATE TRIGGER api_keys_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.api_keys
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.api_keys ENABLE REPLICA TRIGGER api_keys_invalidate_applied;
CREATE TRIGGER team_members_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.team_members ENABLE REPLICA TRIGGER team_members_invalidate_applied;
CREATE TRIGGER merchants_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.merchants
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.merchants ENABLE REPLICA TRIGGER merchants_invalidate_applied;
CREATE TRIGGER users_invalidate_applied
	AFTER INSERT OR UPDATE OR DELETE ON @extschema@.users
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invalidate_cache();
ALTER TABLE @extschema@.users ENABLE REPLICA TRIGGER users_invalidate_applied;

-- On a node where a subscription feeds one of these tables, only the subscription writes it: a
-- key, member or grant made there would be unknown to the origin, beyond its revocations, and
-- would break the subscription at the first conflicting row.  Enabled ORIGIN, so the apply worker
-- passes; SECURITY DEFINER because pg_subscription_rel is readable by superusers only.
CREATE FUNCTION @extschema@.billium_origin_only() RETURNS trigger
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	subscription name;
BEGIN
	SELECT s.subname INTO subscription
	  FROM pg_catalog.pg_subscription_rel r
	  JOIN pg_catalog.pg_subscription s ON s.oid OPERATOR(pg_catalog.=) r.srsubid
	 WHERE r.srrelid OPERATOR(pg_catalog.=) TG_RELID
	 LIMIT 1;
	IF FOUND THEN
		RAISE EXCEPTION 'cannot write %.% on this node: subscription "%" replicates it from the origin',
			TG_TABLE_SCHEMA, TG_TABLE_NAME, subscription
			USING ERRCODE = 'read_only_sql_transaction',
				DETAIL = 'Keys, teams, users and merchants are managed on the origin; this node verifies keys and serves reads.',
				HINT = 'Make the change on the origin: it reaches this node once the subscription has applied it.';
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_origin_only() IS
	'trigger: refuses writes to a table that a logical-replication subscription feeds on this node';
REVOKE ALL ON FUNCTION @extschema@.billium_origin_only() FROM PUBLIC;
CREATE TRIGGER api_keys_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.api_keys
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER team_members_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.team_members
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER merchants_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.merchants
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();
CREATE TRIGGER users_origin_only
	BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON @extschema@.users
	FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.billium_origin_only();

------------------------------------------------------------------------------------------------
-- Domain tables.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.products (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL,
	name text NOT NULL,
	price bigint NOT NULL DEFAULT 0 CHECK (price >= 0),
	currency text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

-- The columns the policies read come first: a scan deforms each row up to the last column any
-- qual needs, and behind variable-width text that costs every row of a sequential scan.  Ids
-- are the server's: no default a caller could stand in for, billium_server_columns draws them.
-- The currency likewise: billium_invoices_guard fills in the product's, or usd.
CREATE TABLE @extschema@.invoices (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	created_by_key uuid,
	id uuid NOT NULL,
	amount bigint NOT NULL CHECK (amount >= 0),
	currency text NOT NULL CHECK (currency ~ '^[a-z]{3}$'),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
	description text NOT NULL DEFAULT '',
	created_by_user uuid,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	-- An invoice may name the product it sells (the same merchant's: the key includes
	-- merchant_id).  A pk key must, and then pays the product's price.
	product_id uuid,
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id),
	CONSTRAINT invoices_product_fkey FOREIGN KEY (merchant_id, product_id)
		REFERENCES @extschema@.products (merchant_id, id) ON DELETE SET NULL (product_id)
);
COMMENT ON COLUMN @extschema@.invoices.product_id IS
	'the product sold, of the same merchant; a pk key''s invoice must name one and takes its price and currency';

-- For the pk policy's half of the OR, so a listing can still be a bitmap index scan.
CREATE INDEX invoices_created_by_key ON @extschema@.invoices (created_by_key)
	WHERE created_by_key IS NOT NULL;
CREATE INDEX invoices_product_id ON @extschema@.invoices (merchant_id, product_id)
	WHERE product_id IS NOT NULL;

ALTER TABLE @extschema@.invoices ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

------------------------------------------------------------------------------------------------
-- Domain tables beyond invoices and products.  Each leads with merchant_id (its index serves
-- the policies).
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.customers (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL,
	name text NOT NULL,
	email text NOT NULL DEFAULT '',
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

CREATE TABLE @extschema@.webhooks (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL,
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
	id uuid NOT NULL,
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
-- Server-owned columns, invoice status, a pk key's price (issue 12, item 6).
------------------------------------------------------------------------------------------------

-- Server-owned columns, named as the trigger's arguments: id (drawn), created_at and updated_at
-- (now), created_by_key and created_by_user (the principal), merchant_id (never changes).  A
-- caller's insert that gives another value, or an update that changes one, is refused.
CREATE FUNCTION @extschema@.billium_server_columns() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	checked boolean := @extschema@.billium_caller_write(caller);
	given jsonb := pg_catalog.to_jsonb(NEW);
	before jsonb;
	server jsonb := '{}';
	col text;
	value jsonb;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF checked THEN
			before := pg_catalog.to_jsonb(OLD);
			FOREACH col IN ARRAY TG_ARGV LOOP
				IF given -> col IS DISTINCT FROM before -> col THEN
					RAISE EXCEPTION 'cannot change column "%" of relation "%"', col, TG_TABLE_NAME
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'The server sets it when the row is created; it never changes.';
				END IF;
			END LOOP;
		END IF;
		RETURN NEW;
	END IF;
	FOREACH col IN ARRAY TG_ARGV LOOP
		CONTINUE WHEN col = 'merchant_id';	-- the insert policy holds it to the caller's merchants
		value := CASE col
			WHEN 'id' THEN pg_catalog.to_jsonb(pg_catalog.gen_random_uuid())
			WHEN 'created_by_key' THEN pg_catalog.to_jsonb(caller.key_id)
			WHEN 'created_by_user' THEN pg_catalog.to_jsonb(CASE WHEN caller.kind = 'user' THEN caller.user_id END)
			ELSE pg_catalog.to_jsonb(pg_catalog.now()) END;
		IF checked THEN
			IF pg_catalog.jsonb_typeof(given -> col) <> 'null' AND given -> col IS DISTINCT FROM value THEN
				RAISE EXCEPTION 'cannot set column "%" of relation "%"', col, TG_TABLE_NAME
					USING ERRCODE = 'insufficient_privilege',
						  DETAIL = 'The server sets it when the row is created.';
			END IF;
			server := server || pg_catalog.jsonb_build_object(col, value);
		ELSIF col LIKE 'created\_by\_%' THEN
			-- Without a principal (a restore, a superuser's load) the row keeps what it was given.
			IF caller.kind IS NOT NULL THEN
				server := server || pg_catalog.jsonb_build_object(col, value);
			END IF;
		ELSIF pg_catalog.jsonb_typeof(given -> col) = 'null' THEN
			server := server || pg_catalog.jsonb_build_object(col, value);
		END IF;
	END LOOP;
	RETURN pg_catalog.jsonb_populate_record(NEW, server);
END
$$;
COMMENT ON FUNCTION @extschema@.billium_server_columns() IS
	'trigger: the server-owned columns named as arguments are set by the server on insert and never change; a caller''s other value is refused (42501)';

-- The price of a product a caller may sell: only where it holds invoice:create, so another
-- merchant's product looks like none.
CREATE FUNCTION @extschema@.billium_invoice_product(merchant_id uuid, product_id uuid,
		OUT price bigint, OUT currency text)
	LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
	SELECT p.price, p.currency FROM @extschema@.products p
	WHERE p.merchant_id OPERATOR(pg_catalog.=) billium_invoice_product.merchant_id
	  AND p.id OPERATOR(pg_catalog.=) billium_invoice_product.product_id
	  AND '{invoice:create}'::@extschema@.billium_permset
		  OPERATOR(@extschema@.<@) @extschema@.billium_principal_permissions(billium_invoice_product.merchant_id)
$$;
COMMENT ON FUNCTION @extschema@.billium_invoice_product(uuid, uuid) IS
	'internal: the price and currency of a product of a merchant where the caller holds invoice:create';

-- Invoices: inserted open; a caller only cancels an open invoice; a pk key sells a product at
-- its price.  'paid' comes from the payment side (billium_mark_invoice_paid).
CREATE FUNCTION @extschema@.billium_invoices_guard() RETURNS trigger
	LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $$
DECLARE
	caller @extschema@.billium_principal := @extschema@.billium_current_principal();
	checked boolean := @extschema@.billium_caller_write(caller);
	product record;
BEGIN
	IF TG_OP = 'UPDATE' THEN
		IF checked AND NEW.status IS DISTINCT FROM OLD.status
		   AND NOT (OLD.status = 'open' AND NEW.status = 'cancelled') THEN
			RAISE EXCEPTION 'cannot change column "status" of relation "invoices" from "%" to "%"', OLD.status, NEW.status
				USING ERRCODE = 'insufficient_privilege',
					  HINT = 'An API caller may only cancel an open invoice; the payment side marks it paid.';
		END IF;
		RETURN NEW;
	END IF;
	IF checked AND NEW.status IS DISTINCT FROM 'open' THEN
		RAISE EXCEPTION 'cannot set column "status" of relation "invoices" to "%"', NEW.status
			USING ERRCODE = 'insufficient_privilege', DETAIL = 'An invoice is created open.';
	END IF;
	IF NEW.product_id IS NOT NULL THEN
		SELECT * INTO product FROM @extschema@.billium_invoice_product(NEW.merchant_id, NEW.product_id) p
		WHERE p.price IS NOT NULL;
		-- Where the caller may not create invoices, the insert policy answers, as without a product.
		IF NOT FOUND AND checked
		   AND '{invoice:create}'::@extschema@.billium_permset
			   OPERATOR(@extschema@.<@) @extschema@.billium_principal_permissions(NEW.merchant_id) THEN
			RAISE EXCEPTION 'product % does not exist', NEW.product_id USING ERRCODE = 'foreign_key_violation';
		END IF;
		IF FOUND THEN
			IF checked AND caller.key_type = 'pk' THEN
				IF NEW.amount IS DISTINCT FROM product.price AND NEW.amount IS NOT NULL THEN
					RAISE EXCEPTION 'cannot set column "amount" of relation "invoices" with a public key'
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'An invoice made with a public key costs its product''s price.';
				END IF;
				IF NEW.currency IS DISTINCT FROM product.currency AND NEW.currency IS NOT NULL THEN
					RAISE EXCEPTION 'cannot set column "currency" of relation "invoices" with a public key'
						USING ERRCODE = 'insufficient_privilege',
							  DETAIL = 'An invoice made with a public key is in its product''s currency.';
				END IF;
			END IF;
			NEW.amount := coalesce(NEW.amount, product.price);
			NEW.currency := coalesce(NEW.currency, product.currency);
		END IF;
	ELSIF checked AND caller.key_type = 'pk' THEN
		RAISE EXCEPTION 'column "product_id" of relation "invoices" is required with a public key'
			USING ERRCODE = 'insufficient_privilege',
				  DETAIL = 'A public key runs in a browser: the buyer must not choose the price.';
	END IF;
	NEW.currency := coalesce(NEW.currency, 'usd');
	RETURN NEW;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_invoices_guard() IS
	'trigger: invoices are created open, a caller may only cancel an open one, and a pk key''s invoice costs its product''s price';

CREATE TRIGGER invoices_guard BEFORE INSERT OR UPDATE ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invoices_guard();
CREATE TRIGGER invoices_server_columns BEFORE INSERT OR UPDATE ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns(
		'merchant_id', 'id', 'created_at', 'created_by_key', 'created_by_user');
CREATE TRIGGER products_server_columns BEFORE INSERT OR UPDATE ON @extschema@.products
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER customers_server_columns BEFORE INSERT OR UPDATE ON @extschema@.customers
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER webhooks_server_columns BEFORE INSERT OR UPDATE ON @extschema@.webhooks
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER wallets_server_columns BEFORE INSERT OR UPDATE ON @extschema@.wallets
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'id', 'created_at');
CREATE TRIGGER checkout_settings_server_columns BEFORE INSERT OR UPDATE ON @extschema@.checkout_settings
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id', 'updated_at');
CREATE TRIGGER merchant_billing_server_columns BEFORE INSERT OR UPDATE ON @extschema@.merchant_billing
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('merchant_id');
CREATE TRIGGER team_members_server_columns BEFORE INSERT OR UPDATE ON @extschema@.team_members
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_server_columns('created_at');

-- The payment side marks an open invoice paid.
CREATE FUNCTION @extschema@.billium_mark_invoice_paid(invoice_id uuid) RETURNS void
	LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
	UPDATE @extschema@.invoices i SET status = 'paid'
	WHERE i.id OPERATOR(pg_catalog.=) invoice_id AND i.status OPERATOR(pg_catalog.=) 'open';
	IF NOT FOUND THEN
		IF EXISTS (SELECT FROM @extschema@.invoices i WHERE i.id OPERATOR(pg_catalog.=) invoice_id) THEN
			RAISE EXCEPTION 'invoice % is not open', invoice_id USING ERRCODE = 'object_not_in_prerequisite_state';
		END IF;
		RAISE EXCEPTION 'invoice % does not exist', invoice_id USING ERRCODE = 'no_data_found';
	END IF;
END
$$;
COMMENT ON FUNCTION @extschema@.billium_mark_invoice_paid(uuid) IS
	'the payment side: mark an open invoice paid (billium_payments only; API keys and sessions never can)';

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
	@extschema@.billium_checkout_settings_touch(),
	@extschema@.billium_server_columns(),
	@extschema@.billium_invoice_product(uuid, uuid),
	@extschema@.billium_invoices_guard(),
	@extschema@.billium_mark_invoice_paid(uuid)
FROM PUBLIC;
-- The triggers run as the writer, so the writer needs what they call.
GRANT EXECUTE ON FUNCTION @extschema@.billium_invoice_product(uuid, uuid) TO billium_api, billium_admin;
GRANT EXECUTE ON FUNCTION @extschema@.billium_mark_invoice_paid(uuid) TO billium_payments;

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
