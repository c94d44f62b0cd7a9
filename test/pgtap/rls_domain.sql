-- Row-level security on the domain tables (issue 4): invoices, products, customers, webhooks,
-- checkout_settings, wallets, merchant_billing and the reports view.
--
-- The matrix: every (table, command) of the contract, each with the permission that gates it,
-- against eight principals on merchant A: the OWNER, ADMIN, MEMBER and VIEWER of A as dashboard
-- sessions (billium_act_as), an sk key holding exactly that permission, an sk key holding every
-- permission but that one, a pk key with the whole public cap, and no principal at all.  The
-- expected outcome comes from the role caps typed below from the spec, never from
-- billium_role_cap.  Merchant B holds a row in every table; no principal of A may see or touch
-- it.
--
-- What RLS refusals look like: a refused SELECT returns no rows; a refused UPDATE or DELETE
-- affects no row, silently; a refused INSERT raises 42501 "new row violates row-level security
-- policy".  Every write is tried inside a subtransaction and undone, with a checksum of A's and
-- of B's rows (taken as the superuser) before and after.  UPDATE and DELETE are tried without a
-- WHERE clause so that only the command's own policy decides (a WHERE clause reads the rows and
-- brings in the SELECT policy too).
BEGIN;
DO $$ BEGIN IF (SELECT extversion FROM pg_extension WHERE extname='billium') < '0.3.0' THEN ALTER EXTENSION billium UPDATE TO '0.3.0'; END IF; END $$;
SELECT plan(295);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  Merchant A ...001 and merchant B ...002.  On A an OWNER, an
-- ADMIN, a MEMBER and a VIEWER; B has its own OWNER.  A holds 3 invoices (two usd/open for 300,
-- one eur/paid for 50: two report groups) and two rows in every other multi-row table, one in
-- each 1:1 table; B holds one row everywhere.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a0000000-0000-0000-0000-000000000001', 'rls merchant A'),
	('a0000000-0000-0000-0000-000000000002', 'rls merchant B');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner@rls-domain.test'),
	('b0000000-0000-0000-0000-000000000002', 'admin@rls-domain.test'),
	('b0000000-0000-0000-0000-000000000003', 'member@rls-domain.test'),
	('b0000000-0000-0000-0000-000000000004', 'viewer@rls-domain.test'),
	('b0000000-0000-0000-0000-000000000006', 'owner-b@rls-domain.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000002', 'ADMIN'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000003', 'MEMBER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'VIEWER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER');

INSERT INTO billium.invoices (merchant_id, id, amount, currency, status, description) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a1', 100, 'usd', 'open', 'A one'),
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a2', 200, 'usd', 'open', 'A two'),
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a3', 50, 'eur', 'paid', 'A three'),
	('a0000000-0000-0000-0000-000000000002', 'e1000000-0000-0000-0000-0000000000b1', 999, 'usd', 'open', 'B secret invoice');
INSERT INTO billium.products (merchant_id, id, name, price) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'A widget', 1000),
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a2', 'A gadget', 2000),
	('a0000000-0000-0000-0000-000000000002', 'e2000000-0000-0000-0000-0000000000b1', 'B secret product', 9999);
INSERT INTO billium.customers (merchant_id, id, name, email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e3000000-0000-0000-0000-0000000000a1', 'A alice', 'alice@a.test'),
	('a0000000-0000-0000-0000-000000000001', 'e3000000-0000-0000-0000-0000000000a2', 'A bob', 'bob@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'e3000000-0000-0000-0000-0000000000b1', 'B secret customer', 'carol@b.test');
INSERT INTO billium.webhooks (merchant_id, id, url, events) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e4000000-0000-0000-0000-0000000000a1', 'https://a.test/one', '{invoice.paid}'),
	('a0000000-0000-0000-0000-000000000001', 'e4000000-0000-0000-0000-0000000000a2', 'https://a.test/two', '{}'),
	('a0000000-0000-0000-0000-000000000002', 'e4000000-0000-0000-0000-0000000000b1', 'https://b-secret.test/hook', '{}');
INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES
	('a0000000-0000-0000-0000-000000000001', '{"theme": "dark"}'),
	('a0000000-0000-0000-0000-000000000002', '{"theme": "b-secret"}');
INSERT INTO billium.wallets (merchant_id, id, currency, address) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e5000000-0000-0000-0000-0000000000a1', 'usd', 'A-wallet-one'),
	('a0000000-0000-0000-0000-000000000001', 'e5000000-0000-0000-0000-0000000000a2', 'eur', 'A-wallet-two'),
	('a0000000-0000-0000-0000-000000000002', 'e5000000-0000-0000-0000-0000000000b1', 'usd', 'B-secret-wallet');
INSERT INTO billium.merchant_billing (merchant_id, billing_email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'billing@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'billing@b-secret.test');

-- The superuser's view of a table, for checksums: a SECURITY DEFINER function owned by the
-- superuser (which bypasses RLS) that the test role calls around each write.
CREATE FUNCTION pg_temp.rls_sum(tbl text, m uuid) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	s text;
BEGIN
	EXECUTE format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM billium.%I t WHERE t.merchant_id = $1',
				   ',', '', tbl) INTO s USING m;
	RETURN s;
END
$$;
-- For INSERT into the 1:1 tables (merchant_id is the primary key): the superuser removes A's row
-- first, inside the attempt's subtransaction, so an allowed insert does not hit 23505.
CREATE FUNCTION pg_temp.rls_drop_row(tbl text, m uuid) RETURNS void
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
BEGIN
	EXECUTE format('DELETE FROM billium.%I WHERE merchant_id = $1', tbl) USING m;
END
$$;

CREATE ROLE tap_rls_app LOGIN;
GRANT billium_api, billium_admin TO tap_rls_app;

SET LOCAL ROLE tap_rls_app;
SET LOCAL search_path = public, billium;

------------------------------------------------------------------------------------------------
-- The policies themselves (names: <table>_<verb>, verb view/create/edit/delete for
-- SELECT/INSERT/UPDATE/DELETE).
------------------------------------------------------------------------------------------------

SELECT policies_are('billium', 'invoices',
	ARRAY['invoices_view', 'invoices_create', 'invoices_edit', 'invoices_delete'],
	'invoices has exactly its four command policies');
SELECT policies_are('billium', 'products',
	ARRAY['products_view', 'products_create', 'products_edit', 'products_delete'],
	'products has exactly its four command policies');
SELECT policies_are('billium', 'customers',
	ARRAY['customers_view', 'customers_create', 'customers_edit', 'customers_delete'],
	'customers has exactly its four command policies');
SELECT policies_are('billium', 'webhooks',
	ARRAY['webhooks_view', 'webhooks_create', 'webhooks_edit', 'webhooks_delete'],
	'webhooks has exactly its four command policies');
SELECT policies_are('billium', 'checkout_settings',
	ARRAY['checkout_settings_view', 'checkout_settings_create', 'checkout_settings_edit', 'checkout_settings_delete'],
	'checkout_settings has exactly its four command policies');
SELECT policies_are('billium', 'wallets',
	ARRAY['wallets_view', 'wallets_create', 'wallets_edit', 'wallets_delete'],
	'wallets has exactly its four command policies');
SELECT policies_are('billium', 'merchant_billing',
	ARRAY['merchant_billing_view', 'merchant_billing_create', 'merchant_billing_edit', 'merchant_billing_delete'],
	'merchant_billing has exactly its four command policies');

SELECT policy_cmd_is('billium', t, t || '_' || v, c, format('policy %s_%s applies to %s', t, v, c))
FROM (VALUES ('invoices'), ('products')) AS tt(t)
CROSS JOIN (VALUES (1, 'view', 'select'), (2, 'create', 'insert'), (3, 'edit', 'update'), (4, 'delete', 'delete')) AS vv(o, v, c)
ORDER BY t, o;

-- The policies ask billium's functions once per statement: each call is wrapped as
-- (SELECT billium_...(...)), an InitPlan, never called bare per row.
SELECT is_empty($$
	SELECT tablename, policyname, e
	FROM pg_policies, LATERAL (VALUES (qual), (with_check)) AS x(e)
	WHERE schemaname = 'billium' AND e IS NOT NULL
	  AND (e !~ 'billium_\w+\('
		   OR regexp_replace(e, '\(\s*SELECT\s+(billium\.)?billium_\w+\(', '', 'g') ~ 'billium_\w+\(')$$,
	'every policy of schema billium asks billium through (SELECT billium_...(...)) InitPlans only');

------------------------------------------------------------------------------------------------
-- The role caps, typed from the spec's Roles table (not computed from billium_role_cap).
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE expected_caps (
	permission text PRIMARY KEY, owner boolean, admin boolean, member boolean, viewer boolean
);
INSERT INTO expected_caps VALUES
	--                    OWNER ADMIN  MEMBER VIEWER
	('merchant:view',     true, true,  true,  true),
	('merchant:edit',     true, true,  false, false),
	('merchant:delete',   true, false, false, false),
	('merchant:billing',  true, false, false, false),
	('invoice:view',      true, true,  true,  true),
	('invoice:create',    true, true,  true,  false),
	('invoice:edit',      true, true,  true,  false),
	('invoice:delete',    true, true,  false, false),
	('product:view',      true, true,  true,  true),
	('product:create',    true, true,  true,  false),
	('product:edit',      true, true,  true,  false),
	('product:delete',    true, true,  false, false),
	('customer:view',     true, true,  true,  true),
	('customer:edit',     true, true,  true,  false),
	('customer:delete',   true, true,  false, false),
	('team:view',         true, true,  true,  true),
	('team:invite',       true, true,  false, false),
	('team:remove',       true, true,  false, false),
	('team:manage_roles', true, true,  false, false),
	('api_key:view',      true, true,  true,  true),
	('api_key:create',    true, true,  false, false),
	('api_key:edit',      true, true,  false, false),
	('api_key:delete',    true, true,  false, false),
	('webhook:view',      true, true,  true,  true),
	('webhook:create',    true, true,  false, false),
	('webhook:edit',      true, true,  false, false),
	('webhook:delete',    true, true,  false, false),
	('checkout:view',     true, true,  false, true),
	('checkout:edit',     true, true,  false, false),
	('wallet:view',       true, true,  true,  true),
	('wallet:create',     true, true,  true,  false),
	('wallet:edit',       true, true,  true,  false),
	('wallet:delete',     true, true,  false, false),
	('report:view',       true, true,  false, true);

SELECT set_eq('SELECT permission FROM expected_caps', 'SELECT name FROM billium.permissions',
	'the typed caps cover exactly the 34 permissions');

------------------------------------------------------------------------------------------------
-- The (table, command, permission) matrix of the contract, with A's row count in each table
-- and the statement tried.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE ops (
	ord int PRIMARY KEY, tbl text, cmd text, permission text, n_a int, sql text, prep boolean
);
INSERT INTO ops VALUES
	(11, 'invoices', 'SELECT', 'invoice:view', 3, NULL, false),
	(12, 'invoices', 'INSERT', 'invoice:create', 3,
	 $$INSERT INTO billium.invoices (merchant_id, product_id) VALUES ('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1')$$, false),
	(13, 'invoices', 'UPDATE', 'invoice:edit', 3, $$UPDATE billium.invoices SET description = 'rls: updated'$$, false),
	(14, 'invoices', 'DELETE', 'invoice:delete', 3, $$DELETE FROM billium.invoices$$, false),
	(21, 'products', 'SELECT', 'product:view', 2, NULL, false),
	(22, 'products', 'INSERT', 'product:create', 2,
	 $$INSERT INTO billium.products (merchant_id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'rls: new')$$, false),
	(23, 'products', 'UPDATE', 'product:edit', 2, $$UPDATE billium.products SET name = 'rls: updated'$$, false),
	(24, 'products', 'DELETE', 'product:delete', 2, $$DELETE FROM billium.products$$, false),
	(31, 'customers', 'SELECT', 'customer:view', 2, NULL, false),
	(32, 'customers', 'INSERT', 'customer:edit', 2,
	 $$INSERT INTO billium.customers (merchant_id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'rls: new')$$, false),
	(33, 'customers', 'UPDATE', 'customer:edit', 2, $$UPDATE billium.customers SET email = 'rls@updated.test'$$, false),
	(34, 'customers', 'DELETE', 'customer:delete', 2, $$DELETE FROM billium.customers$$, false),
	(41, 'webhooks', 'SELECT', 'webhook:view', 2, NULL, false),
	(42, 'webhooks', 'INSERT', 'webhook:create', 2,
	 $$INSERT INTO billium.webhooks (merchant_id, url) VALUES ('a0000000-0000-0000-0000-000000000001', 'https://rls.test/new')$$, false),
	(43, 'webhooks', 'UPDATE', 'webhook:edit', 2, $$UPDATE billium.webhooks SET url = 'https://rls.test/updated'$$, false),
	(44, 'webhooks', 'DELETE', 'webhook:delete', 2, $$DELETE FROM billium.webhooks$$, false),
	(51, 'checkout_settings', 'SELECT', 'checkout:view', 1, NULL, false),
	(52, 'checkout_settings', 'INSERT', 'checkout:edit', 1,
	 $$INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES ('a0000000-0000-0000-0000-000000000001', '{"theme": "new"}')$$, true),
	(53, 'checkout_settings', 'UPDATE', 'checkout:edit', 1, $$UPDATE billium.checkout_settings SET settings = '{"theme": "updated"}'$$, false),
	(54, 'checkout_settings', 'DELETE', 'checkout:edit', 1, $$DELETE FROM billium.checkout_settings$$, false),
	(61, 'wallets', 'SELECT', 'wallet:view', 2, NULL, false),
	(62, 'wallets', 'INSERT', 'wallet:create', 2,
	 $$INSERT INTO billium.wallets (merchant_id, address) VALUES ('a0000000-0000-0000-0000-000000000001', 'rls-new-wallet')$$, false),
	(63, 'wallets', 'UPDATE', 'wallet:edit', 2, $$UPDATE billium.wallets SET address = 'rls-updated'$$, false),
	(64, 'wallets', 'DELETE', 'wallet:delete', 2, $$DELETE FROM billium.wallets$$, false),
	(71, 'merchant_billing', 'SELECT', 'merchant:billing', 1, NULL, false),
	(72, 'merchant_billing', 'INSERT', 'merchant:billing', 1,
	 $$INSERT INTO billium.merchant_billing (merchant_id, billing_email) VALUES ('a0000000-0000-0000-0000-000000000001', 'new@a.test')$$, true),
	(73, 'merchant_billing', 'UPDATE', 'merchant:billing', 1, $$UPDATE billium.merchant_billing SET billing_email = 'updated@a.test'$$, false),
	(74, 'merchant_billing', 'DELETE', 'merchant:billing', 1, $$DELETE FROM billium.merchant_billing$$, false),
	-- reports: one row per (merchant, currency, status); A has two groups.
	(81, 'reports', 'SELECT', 'report:view', 2, NULL, false);

CREATE TEMP TABLE principals (ord int PRIMARY KEY, label text NOT NULL);
INSERT INTO principals VALUES
	(1, 'OWNER'), (2, 'ADMIN'), (3, 'MEMBER'), (4, 'VIEWER'),
	(5, 'sk with'), (6, 'sk without'), (7, 'pk'), (8, 'none');

-- Keys, minted by A's OWNER: for each permission of the matrix an sk key holding exactly it and
-- an sk key holding every other permission; one pk key with the whole public cap.
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A to mint the keys');
-- Written by the billium_test_key fixture: a key with one edit or delete permission (or every
-- permission but one view) lacks a domain's view, which billium_create_api_key refuses since
-- 0.6.0 (test/pgtap/grant_shape.sql); these stand for such keys from before it.
CREATE TEMP TABLE keys AS
SELECT p.permission, w.mode, NULL::uuid AS id, k.api_key
FROM (SELECT DISTINCT permission FROM ops) p
CROSS JOIN (VALUES ('with'), ('without')) AS w(mode),
LATERAL billium_test_key('a0000000-0000-0000-0000-000000000001', 'sk',
	CASE w.mode WHEN 'with' THEN billium_permset_from_names(ARRAY[p.permission])
		 ELSE billium_permset_from_names(ARRAY['*']) - billium_permset_from_names(ARRAY[p.permission]) END) AS k(api_key);
UPDATE keys SET id = (billium_key_verify(api_key)).key_id;
INSERT INTO keys
SELECT NULL, 'pk', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk',
							'{invoice:create,invoice:view,product:view}', 'rls pk');
INSERT INTO keys
SELECT NULL, 'pk2', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk',
							'{invoice:create,invoice:view,product:view}', 'rls pk two');
SELECT is((SELECT count(*) FROM keys), 48::bigint, '23 permissions x (with, without) sk keys and two pk keys');
SELECT is_empty($$
	SELECT k.permission, k.mode FROM keys k
	WHERE (billium_key_verify(k.api_key)).permissions <> CASE k.mode
		WHEN 'with' THEN billium_permset_from_names(ARRAY[k.permission])
		WHEN 'without' THEN billium_permset_from_names(ARRAY['*']) - billium_permset_from_names(ARRAY[k.permission])
		ELSE '{invoice:create,invoice:view,product:view}'::billium_permset END$$,
	'every key verifies with exactly the set it was minted with');

CREATE FUNCTION pg_temp.become(label text, perm text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CASE label
	WHEN 'OWNER' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000001');
	WHEN 'ADMIN' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000002');
	WHEN 'MEMBER' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000003');
	WHEN 'VIEWER' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000004');
	WHEN 'sk with' THEN
		PERFORM billium_authenticate((SELECT api_key FROM keys WHERE mode = 'with' AND permission = perm));
	WHEN 'sk without' THEN
		PERFORM billium_authenticate((SELECT api_key FROM keys WHERE mode = 'without' AND permission = perm));
	WHEN 'pk' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE mode = 'pk'));
	WHEN 'pk2' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE mode = 'pk2'));
	WHEN 'none' THEN
		PERFORM set_config('billium.api_key', '', true);
		IF (billium_current_principal()).kind IS NOT NULL THEN
			RAISE EXCEPTION 'test harness: could not clear the principal';
		END IF;
	END CASE;
END
$$;

-- What the current principal sees of a table: A's rows and everybody else's.
CREATE FUNCTION pg_temp.look(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a bigint; b bigint; st text; msg text;
BEGIN
	EXECUTE format('SELECT count(*) FILTER (WHERE merchant_id = %L), count(*) FILTER (WHERE merchant_id <> %L) FROM billium.%I',
				   'a0000000-0000-0000-0000-000000000001', 'a0000000-0000-0000-0000-000000000001', tbl)
		INTO a, b;
	RETURN format('sees A=%s B=%s', a, b);
EXCEPTION WHEN OTHERS THEN
	GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	RETURN st || ' ' || msg;
END
$$;

-- Try a write as the current principal, undo it, and report: 'ok' or the SQLSTATE ('42501 rls'
-- for an RLS WITH CHECK refusal), the rows affected, and whether A's and B's rows changed.
CREATE FUNCTION pg_temp.attempt(tbl text, sql text, prep boolean) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a0 text := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000001');
	b0 text := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000002');
	a1 text; b1 text; n bigint := 0; st text; msg text; res text;
BEGIN
	BEGIN
		IF prep THEN
			PERFORM pg_temp.rls_drop_row(tbl, 'a0000000-0000-0000-0000-000000000001');
		END IF;
		EXECUTE sql;
		GET DIAGNOSTICS n = ROW_COUNT;
		a1 := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000001');
		b1 := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000002');
		RAISE EXCEPTION USING ERRCODE = 'RLS00', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
	END;
	IF st = 'RLS00' THEN
		res := 'ok';
	ELSE
		res := CASE WHEN st = '42501' AND msg LIKE 'new row violates row-level security policy%' THEN '42501 rls'
					ELSE st || ' ' || msg END;
		a1 := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000001');
		b1 := pg_temp.rls_sum(tbl, 'a0000000-0000-0000-0000-000000000002');
	END IF;
	RETURN format('%s rows=%s A=%s B=%s', res, n,
				  CASE WHEN a1 = a0 THEN 'same' ELSE 'changed' END,
				  CASE WHEN b1 = b0 THEN 'same' ELSE 'changed' END);
END
$$;

CREATE FUNCTION pg_temp.rowcount(sql text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE sql;
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;

CREATE FUNCTION pg_temp.allowed(label text, perm text) RETURNS boolean LANGUAGE sql STABLE AS $$
	SELECT CASE label
		WHEN 'sk with' THEN true
		WHEN 'sk without' THEN false
		WHEN 'none' THEN false
		WHEN 'pk' THEN perm IN ('invoice:create', 'invoice:view', 'product:view')
		ELSE (SELECT CASE label WHEN 'OWNER' THEN e.owner WHEN 'ADMIN' THEN e.admin
								WHEN 'MEMBER' THEN e.member WHEN 'VIEWER' THEN e.viewer END
			  FROM expected_caps e WHERE e.permission = perm)
	END
$$;

CREATE FUNCTION pg_temp.expect(tbl text, cmd text, perm text, n_a int, label text) RETURNS text
	LANGUAGE sql STABLE AS $$
	SELECT CASE
		-- a pk key sees only the invoices it created itself: none of the fixtures.
		WHEN cmd = 'SELECT' AND tbl = 'invoices' AND label = 'pk' THEN 'sees A=0 B=0'
		WHEN cmd = 'SELECT' THEN format('sees A=%s B=0', CASE WHEN pg_temp.allowed(label, perm) THEN n_a ELSE 0 END)
		WHEN cmd = 'INSERT' AND pg_temp.allowed(label, perm) THEN 'ok rows=1 A=changed B=same'
		WHEN cmd = 'INSERT' THEN '42501 rls rows=0 A=same B=same'
		WHEN pg_temp.allowed(label, perm) THEN format('ok rows=%s A=changed B=same', n_a)
		ELSE 'ok rows=0 A=same B=same'
	END
$$;

CREATE FUNCTION pg_temp.cell(tbl text, cmd text, perm text, sql text, prep boolean, label text)
	RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.become(label, perm);
	IF cmd = 'SELECT' THEN
		RETURN pg_temp.look(tbl);
	END IF;
	RETURN pg_temp.attempt(tbl, sql, prep);
END
$$;

------------------------------------------------------------------------------------------------
-- The matrix: 29 (table, command) x 8 principals = 232.
------------------------------------------------------------------------------------------------

SELECT is(pg_temp.cell(o.tbl, o.cmd, o.permission, o.sql, o.prep, p.label),
		  pg_temp.expect(o.tbl, o.cmd, o.permission, o.n_a, p.label),
		  format('%s %s as %s: %s', o.cmd, o.tbl,
				 CASE p.label WHEN 'sk with' THEN 'sk key with exactly ' || o.permission
							  WHEN 'sk without' THEN 'sk key with all but ' || o.permission
							  WHEN 'pk' THEN 'pk key'
							  WHEN 'none' THEN 'no principal'
							  ELSE p.label || ' of A' END,
				 CASE WHEN p.label = 'none' THEN 'refused'
					  WHEN o.tbl = 'invoices' AND o.cmd = 'SELECT' AND p.label = 'pk' THEN 'sees only its own invoices (none yet)'
					  WHEN pg_temp.allowed(p.label, o.permission) THEN 'allowed (holds ' || o.permission || ')'
					  ELSE 'refused (lacks ' || o.permission || ')' END))
FROM ops o CROSS JOIN principals p
ORDER BY o.ord, p.ord;

------------------------------------------------------------------------------------------------
-- Refusals spelled out, with the superuser's checksum before and after (RESET ROLE).
------------------------------------------------------------------------------------------------

RESET ROLE;
CREATE TEMP TABLE sums_before AS
SELECT 'invoices' AS tbl, md5(string_agg(t::text, ',' ORDER BY id)) AS sum FROM billium.invoices t
UNION ALL
SELECT 'products', md5(string_agg(t::text, ',' ORDER BY id)) FROM billium.products t
UNION ALL
SELECT 'merchant_billing', md5(string_agg(t::text, ',' ORDER BY merchant_id)) FROM billium.merchant_billing t;
SET LOCAL ROLE tap_rls_app;

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000004')).user_id,
	'b0000000-0000-0000-0000-000000000004'::uuid, 'act as the VIEWER of A');
SELECT throws_ok($$INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a0000000-0000-0000-0000-000000000001', 1)$$,
	'42501', 'new row violates row-level security policy for table "invoices"',
	'the VIEWER may not INSERT an invoice: 42501 new row violates row-level security policy');
SELECT is(pg_temp.rowcount($$UPDATE billium.invoices SET status = 'cancelled' WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001'$$),
	0::bigint, 'the VIEWER''s UPDATE of A''s invoices (it sees them) affects 0 rows, silently');
SELECT is(pg_temp.rowcount($$DELETE FROM billium.invoices WHERE id = 'e1000000-0000-0000-0000-0000000000a1'$$),
	0::bigint, 'the VIEWER''s DELETE of an invoice it sees affects 0 rows, silently');
SELECT is((SELECT count(*) FROM billium.invoices WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001'),
	3::bigint, 'the VIEWER still sees A''s 3 invoices');
SELECT throws_ok($$INSERT INTO billium.products (merchant_id, name) VALUES ('a0000000-0000-0000-0000-000000000001', 'x')$$,
	'42501', 'new row violates row-level security policy for table "products"',
	'the VIEWER may not INSERT a product');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000003')).user_id,
	'b0000000-0000-0000-0000-000000000003'::uuid, 'act as the MEMBER of A');
SELECT is(pg_temp.rowcount($$DELETE FROM billium.invoices WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001'$$),
	0::bigint, 'the MEMBER (no invoice:delete) deletes 0 invoices, silently');
SELECT is(pg_temp.rowcount($$DELETE FROM billium.products$$),
	0::bigint, 'the MEMBER (no product:delete) deletes 0 products, silently');

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000002')).user_id,
	'b0000000-0000-0000-0000-000000000002'::uuid, 'act as the ADMIN of A');
SELECT is_empty($$SELECT * FROM billium.merchant_billing$$, 'the ADMIN (no merchant:billing) reads no billing row');
SELECT is(pg_temp.rowcount($$UPDATE billium.merchant_billing SET billing_email = 'admin@evil.test'$$),
	0::bigint, 'the ADMIN updates no billing row');
SELECT throws_ok($$INSERT INTO billium.merchant_billing (merchant_id) VALUES ('a0000000-0000-0000-0000-000000000001')$$,
	'42501', 'new row violates row-level security policy for table "merchant_billing"',
	'the ADMIN may not INSERT a billing row');

RESET ROLE;
SELECT is(md5(string_agg(t::text, ',' ORDER BY id)), (SELECT sum FROM sums_before WHERE tbl = 'invoices'),
	'after the refused writes, the invoices are exactly as they were (superuser checksum)')
FROM billium.invoices t;
SELECT is(md5(string_agg(t::text, ',' ORDER BY id)), (SELECT sum FROM sums_before WHERE tbl = 'products'),
	'after the refused writes, the products are exactly as they were (superuser checksum)')
FROM billium.products t;
SELECT is(md5(string_agg(t::text, ',' ORDER BY merchant_id)), (SELECT sum FROM sums_before WHERE tbl = 'merchant_billing'),
	'after the refused writes, merchant_billing is exactly as it was (superuser checksum)')
FROM billium.merchant_billing t;
SET LOCAL ROLE tap_rls_app;

SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A');
SELECT results_eq($$SELECT billing_email FROM billium.merchant_billing$$, $$VALUES ('billing@a.test')$$,
	'the OWNER (merchant:billing) reads A''s billing row, and only A''s');

------------------------------------------------------------------------------------------------
-- Who created an invoice comes from the principal.  A pk key sees exactly the invoices it
-- created; a second pk key of the same merchant sees only its own.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE made (label text, id uuid, created_by_key uuid, created_by_user uuid);

DO $$ BEGIN PERFORM pg_temp.become('pk', NULL); END $$;
SELECT is_empty($$SELECT id FROM billium.invoices$$, 'the pk key sees no invoice before it creates one');
-- A forged creator is refused (the server sets it: billium_server_columns).
SELECT throws_like($$INSERT INTO billium.invoices (merchant_id, product_id, description, created_by_key, created_by_user)
	VALUES ('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'forged by pk',
			(SELECT id FROM keys WHERE mode = 'pk2'), 'b0000000-0000-0000-0000-000000000001')$$,
	'%"created_by_key"%', 'a forged creator is refused, naming the column');
WITH i AS (
	INSERT INTO billium.invoices (merchant_id, product_id, description)
	VALUES ('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'made by pk')
	RETURNING id, created_by_key, created_by_user)
INSERT INTO made SELECT 'pk', * FROM i;
SELECT is((SELECT count(*) FROM made WHERE label = 'pk'), 1::bigint,
	'the pk key creates an invoice, and INSERT ... RETURNING gives it back its own new row');
SELECT is((SELECT created_by_key FROM made WHERE label = 'pk'), (SELECT id FROM keys WHERE mode = 'pk'),
	'created_by_key is the pk key');
SELECT ok((SELECT created_by_user IS NULL FROM made WHERE label = 'pk'),
	'created_by_user is null for an invoice made by a key');
SELECT set_eq($$SELECT id FROM billium.invoices$$, $$SELECT id FROM made WHERE label = 'pk'$$,
	'the pk key sees exactly the one invoice it created');
SELECT is(pg_temp.rowcount($$UPDATE billium.invoices SET status = 'cancelled'$$), 0::bigint,
	'the pk key cannot cancel (UPDATE) even its own invoice');
SELECT is(pg_temp.rowcount($$DELETE FROM billium.invoices$$), 0::bigint,
	'the pk key cannot DELETE even its own invoice');
SELECT throws_ok($$INSERT INTO billium.invoices (merchant_id, product_id) VALUES ('a0000000-0000-0000-0000-000000000002', 'e2000000-0000-0000-0000-0000000000b1')$$,
	'42501', 'new row violates row-level security policy for table "invoices"',
	'the pk key may not create an invoice on merchant B');
SELECT results_eq($$SELECT name FROM billium.products ORDER BY name$$, $$VALUES ('A gadget'), ('A widget')$$,
	'the pk key sees A''s products, and only A''s');

DO $$ BEGIN PERFORM pg_temp.become('pk2', NULL); END $$;
WITH i AS (
	INSERT INTO billium.invoices (merchant_id, product_id, description)
	VALUES ('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a2', 'made by pk2')
	RETURNING id, created_by_key, created_by_user)
INSERT INTO made SELECT 'pk2', * FROM i;
SELECT set_eq($$SELECT id FROM billium.invoices$$, $$SELECT id FROM made WHERE label = 'pk2'$$,
	'a second pk key of the same merchant sees only its own invoice, not the first pk key''s');
DO $$ BEGIN PERFORM pg_temp.become('pk', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.invoices$$, $$SELECT id FROM made WHERE label = 'pk'$$,
	'and the first pk key still sees only its own');

DO $$ BEGIN PERFORM pg_temp.become('sk with', 'invoice:create'); END $$;
SELECT is(pg_temp.rowcount($$INSERT INTO billium.invoices (merchant_id, amount, description)
	VALUES ('a0000000-0000-0000-0000-000000000001', 4400, 'made by sk')$$), 1::bigint,
	'an sk key with invoice:create alone creates an invoice');
-- RETURNING applies the SELECT policy to the new row: without invoice:view the key reads back
-- the row it is inserting (decision 4), and nothing else (test/pgtap/server_columns.sql).
SELECT lives_ok($$INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a0000000-0000-0000-0000-000000000001', 1) RETURNING id$$,
	'and without invoice:view, INSERT ... RETURNING gives back the new row');
DO $$ BEGIN PERFORM pg_temp.become('MEMBER', NULL); END $$;
WITH i AS (
	INSERT INTO billium.invoices (merchant_id, amount, description)
	VALUES ('a0000000-0000-0000-0000-000000000001', 4500, 'made by the MEMBER')
	RETURNING id, created_by_key, created_by_user)
INSERT INTO made SELECT 'MEMBER', * FROM i;
SELECT is((SELECT row(created_by_key, created_by_user)::text FROM made WHERE label = 'MEMBER'),
	row(NULL::uuid, 'b0000000-0000-0000-0000-000000000003'::uuid)::text,
	'an invoice made in a dashboard session records the user and no key');
-- A dashboard session cannot forge the creator either: an invoice claiming the pk key as its
-- creator is refused, so nothing can become visible to that key.
SELECT throws_like($$INSERT INTO billium.invoices (merchant_id, amount, description, created_by_key, created_by_user)
	VALUES ('a0000000-0000-0000-0000-000000000001', 4600, 'forged by the MEMBER',
			(SELECT id FROM keys WHERE mode = 'pk'), 'b0000000-0000-0000-0000-000000000001')$$,
	'%"created_by_key"%', 'the MEMBER cannot create an invoice claiming the pk key and the OWNER as its creators');
DO $$ BEGIN PERFORM pg_temp.become('pk', NULL); END $$;
SELECT set_eq($$SELECT id FROM billium.invoices$$, $$SELECT id FROM made WHERE label = 'pk'$$,
	'the pk key still sees only the invoice it created: a dashboard session cannot forge created_by_key');
DO $$ BEGIN PERFORM pg_temp.become('OWNER', NULL); END $$;
SELECT is((SELECT count(*) FROM billium.invoices WHERE merchant_id = 'a0000000-0000-0000-0000-000000000001'),
	8::bigint, 'the OWNER sees all of A''s invoices: 3 fixtures, 2 by pk keys, 2 by the sk key, 1 by the MEMBER');
SELECT is((SELECT row(created_by_key, created_by_user)::text FROM billium.invoices WHERE description = 'made by sk'),
	row((SELECT id FROM keys WHERE mode = 'with' AND permission = 'invoice:create'), NULL::uuid)::text,
	'an invoice made by an sk key records that key and no user');

------------------------------------------------------------------------------------------------
-- reports: aggregates of the caller's own merchant, with report:view alone.
------------------------------------------------------------------------------------------------

DO $$ BEGIN PERFORM pg_temp.become('VIEWER', NULL); END $$;
SELECT is((SELECT count(*) FROM billium.reports WHERE merchant_id <> 'a0000000-0000-0000-0000-000000000001'),
	0::bigint, 'the VIEWER sees no report row of another merchant');
SELECT is((SELECT count(*) FROM billium.reports r
		   WHERE r.merchant_id = 'a0000000-0000-0000-0000-000000000001' AND r.currency = 'usd' AND r.status = 'open'
			 AND to_jsonb(r) @? '$.* ? (@ == 7)' AND to_jsonb(r) @? '$.* ? (@ == 12201)'),
	1::bigint, 'the VIEWER sees A''s usd/open aggregate: count 7, sum 12201 (B''s usd/open 999 not in it)');
SELECT is((SELECT count(*) FROM billium.reports r
		   WHERE r.merchant_id = 'a0000000-0000-0000-0000-000000000001' AND r.currency = 'eur' AND r.status = 'paid'
			 AND to_jsonb(r) @? '$.* ? (@ == 1)' AND to_jsonb(r) @? '$.* ? (@ == 50)'),
	1::bigint, 'the VIEWER sees A''s eur/paid aggregate: count 1, sum 50');
DO $$ BEGIN PERFORM pg_temp.become('MEMBER', NULL); END $$;
SELECT is_empty($$SELECT * FROM billium.reports$$, 'the MEMBER (no report:view) sees no report row');
DO $$ BEGIN PERFORM pg_temp.become('sk with', 'report:view'); END $$;
SELECT is((SELECT count(*) FROM billium.reports), 2::bigint,
	'an sk key with report:view alone (no invoice:view) sees A''s report rows');
DO $$ BEGIN PERFORM pg_temp.become('none', NULL); END $$;
SELECT is_empty($$SELECT * FROM billium.reports$$, 'no principal: no report row');

SELECT * FROM finish();
ROLLBACK;
