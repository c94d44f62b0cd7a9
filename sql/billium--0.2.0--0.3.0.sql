/*
 * billium 0.2.0 -> 0.3.0 (UNRELEASED, in progress): row-level security over the merchant model.
 * Not yet the default version; see CHANGELOG.md.
 */

\echo Use "ALTER EXTENSION billium UPDATE TO '0.3.0'" to load this file. \quit

------------------------------------------------------------------------------------------------
-- What policies ask: two STABLE functions, wrapped as (SELECT ...) so each runs once per
-- statement (an InitPlan) and the merchant_id index is still used.
------------------------------------------------------------------------------------------------

CREATE FUNCTION @extschema@.billium_merchants_with(permission text) RETURNS uuid[]
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_merchants_with(text) IS
	'the merchants where this transaction''s caller holds the permission (for policies)';

CREATE FUNCTION @extschema@.billium_public_key_id() RETURNS uuid
	AS 'MODULE_PATHNAME' LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION @extschema@.billium_public_key_id() IS
	'the caller''s key id when it is a pk key, else null (pk keys see only what they created)';

REVOKE ALL ON FUNCTION @extschema@.billium_merchants_with(text), @extschema@.billium_public_key_id()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION @extschema@.billium_merchants_with(text), @extschema@.billium_public_key_id()
	TO billium_api;

------------------------------------------------------------------------------------------------
-- Domain tables.
------------------------------------------------------------------------------------------------

CREATE TABLE @extschema@.invoices (
	merchant_id uuid NOT NULL REFERENCES @extschema@.merchants (id) ON DELETE CASCADE,
	id uuid NOT NULL DEFAULT pg_catalog.gen_random_uuid(),
	amount bigint NOT NULL CHECK (amount >= 0),
	currency text NOT NULL DEFAULT 'usd' CHECK (currency ~ '^[a-z]{3}$'),
	status text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'cancelled')),
	description text NOT NULL DEFAULT '',
	created_by_key uuid,
	created_by_user uuid,
	created_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (merchant_id, id),
	UNIQUE (id)
);

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
	NEW.created_by_key := caller.key_id;
	NEW.created_by_user := CASE WHEN caller.kind = 'user' THEN caller.user_id END;
	RETURN NEW;
END
$$;
CREATE TRIGGER invoices_fill_creator BEFORE INSERT ON @extschema@.invoices
	FOR EACH ROW EXECUTE FUNCTION @extschema@.billium_invoices_fill_creator();

ALTER TABLE @extschema@.invoices ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE @extschema@.products ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

-- view -> SELECT, create -> INSERT, edit -> UPDATE, delete -> DELETE.  pk keys see only the
-- invoices they created.
CREATE POLICY invoices_view ON @extschema@.invoices FOR SELECT
	USING (merchant_id OPERATOR(pg_catalog.=) ANY ((SELECT @extschema@.billium_merchants_with('invoice:view'))::uuid[])
		   AND ((SELECT @extschema@.billium_public_key_id()) IS NULL
				OR created_by_key OPERATOR(pg_catalog.=) (SELECT @extschema@.billium_public_key_id())));
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
