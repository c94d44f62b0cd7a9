-- The gate and the policies say the same thing (issue 12, item 10; issue 13).
--
-- 1. Statically: every action of billium.actions is served either by a policy of
--    billium.policy_rules requiring the same permission, or by a function of the extension that
--    asks the gate for that very action, or (reports) by a view filtering on the same permission;
--    every action a rule names exists with the rule's permission; the policies in the catalog are
--    exactly those the rules generate (plus users_view, which is not per merchant).
-- 2. Dynamically: for every action and every permission, an sk key holding that permission (with
--    its domain's view where decision 3 requires it: write implies view) is allowed by the gate
--    exactly when the action's SQL path (the statement the reference gateway runs, or its
--    equivalent) succeeds on a row of its own merchant.  The team guard's own rule (nobody grants
--    above their own) is not the policies' business: team.invite's keys also hold the VIEWER cap
--    it grants, and team.update_role's path sets the role the member has (nothing granted).
BEGIN;
SELECT plan(57);

------------------------------------------------------------------------------------------------
-- 1. The declared table against the action catalog and the catalog of policies.
------------------------------------------------------------------------------------------------

SELECT is_empty($$
	SELECT a.name, a.permission FROM billium.actions a
	WHERE a.builtin
	  AND NOT EXISTS (SELECT FROM billium.policy_rules r
					  WHERE a.name = ANY (r.actions) AND r.permission = a.permission)
	  AND NOT EXISTS (SELECT FROM pg_proc p
					  WHERE p.pronamespace = 'billium'::regnamespace
						AND p.prosrc LIKE '%billium_authorize(''' || a.name || '''%')
	  AND NOT (a.name LIKE 'reports.%'
			   AND pg_get_viewdef('billium.reports'::regclass) LIKE '%billium_merchants_with(''' || a.permission || '''%')$$,
	'every action is served by a policy rule with its permission, a function asking the gate for it, or the reports view');
SELECT is_empty($$
	SELECT r.policy, x.action FROM billium.policy_rules r, unnest(r.actions) AS x(action)
	WHERE NOT EXISTS (SELECT FROM billium.actions a WHERE a.name = x.action AND a.permission = r.permission)$$,
	'every action a policy rule names exists and requires the rule''s permission');
SELECT is_empty($$
	SELECT a.name FROM billium.actions a, billium.policy_rules r
	WHERE a.name = ANY (r.actions) GROUP BY a.name HAVING count(DISTINCT r.tbl) > 1$$,
	'no action is named by the rules of two tables');
SELECT set_eq($$SELECT tablename::text, policyname::text FROM pg_policies WHERE schemaname = 'billium'$$,
	$$SELECT tbl::text, policy::text FROM billium.policy_rules UNION ALL VALUES ('users', 'users_view')$$,
	'the policies of schema billium are exactly those of billium.policy_rules, and users_view');
-- Each policy is what the generator writes today: nobody edited one by hand.
CREATE TEMP TABLE generated AS
SELECT r.tbl, r.policy,
	   billium.billium_policy_clause(r.command, r.permission, r.merchant_column, r.own_rows_column, r.row_filter,
									 (SELECT i.permission FROM billium.policy_rules i
									  WHERE i.tbl = r.tbl AND i.command = 'INSERT')) AS clause
FROM billium.policy_rules r;
CREATE SCHEMA tap_agree_shadow;
DO $$
DECLARE
	g record;
BEGIN
	FOR g IN SELECT * FROM generated LOOP
		IF to_regclass(format('tap_agree_shadow.%I', g.tbl)) IS NULL THEN
			EXECUTE format('CREATE TABLE tap_agree_shadow.%I (LIKE billium.%I)', g.tbl, g.tbl);
		END IF;
		EXECUTE format('CREATE POLICY %I ON tap_agree_shadow.%I %s', g.policy, g.tbl, g.clause);
	END LOOP;
END
$$;
SELECT is_empty($$
	SELECT b.tablename, b.policyname FROM pg_policies b
	JOIN pg_policies s ON s.schemaname = 'tap_agree_shadow' AND s.tablename = b.tablename AND s.policyname = b.policyname
	WHERE b.schemaname = 'billium'
	  AND (b.cmd, b.qual, b.with_check) IS DISTINCT FROM (s.cmd, s.qual, s.with_check)$$,
	'every policy of billium is exactly what billium_policy_clause generates from its rule');

------------------------------------------------------------------------------------------------
-- 2. Fixtures, as the superuser: merchant A with a row in every table, its OWNER, a MEMBER to
-- remove and promote, an outsider to invite, and a key with an empty grant to update, roll and
-- revoke.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES ('a7000000-0000-0000-0000-000000000001', 'agree A');
INSERT INTO billium.users (id, email) VALUES
	('b7000000-0000-0000-0000-000000000001', 'owner@agree.test'),
	('b7000000-0000-0000-0000-000000000002', 'member@agree.test'),
	('b7000000-0000-0000-0000-000000000003', 'outsider@agree.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a7000000-0000-0000-0000-000000000001', 'b7000000-0000-0000-0000-000000000001', 'OWNER'),
	('a7000000-0000-0000-0000-000000000001', 'b7000000-0000-0000-0000-000000000002', 'VIEWER');
INSERT INTO billium.invoices (merchant_id, id, amount) VALUES
	('a7000000-0000-0000-0000-000000000001', 'e7000000-0000-0000-0000-000000000001', 100);
INSERT INTO billium.products (merchant_id, id, name, price) VALUES
	('a7000000-0000-0000-0000-000000000001', 'e7000000-0000-0000-0000-000000000002', 'p', 100);
INSERT INTO billium.customers (merchant_id, id, name) VALUES
	('a7000000-0000-0000-0000-000000000001', 'e7000000-0000-0000-0000-000000000003', 'c');
INSERT INTO billium.webhooks (merchant_id, id, url) VALUES
	('a7000000-0000-0000-0000-000000000001', 'e7000000-0000-0000-0000-000000000004', 'https://agree.test');
INSERT INTO billium.wallets (merchant_id, id, address) VALUES
	('a7000000-0000-0000-0000-000000000001', 'e7000000-0000-0000-0000-000000000005', 'w');
INSERT INTO billium.checkout_settings (merchant_id) VALUES ('a7000000-0000-0000-0000-000000000001');
INSERT INTO billium.merchant_billing (merchant_id) VALUES ('a7000000-0000-0000-0000-000000000001');
INSERT INTO billium.api_keys (id, merchant_id, key_type, hint, key_hash, permissions, created_by)
VALUES ('c7000000-0000-0000-0000-000000000001', 'a7000000-0000-0000-0000-000000000001', 'sk', 'sk_...none',
		sha256('agree: the target key'), '{}', 'b7000000-0000-0000-0000-000000000001');

CREATE ROLE tap_agree_app LOGIN;
GRANT billium_api, billium_admin TO tap_agree_app;
SET LOCAL ROLE tap_agree_app;
SET LOCAL search_path = public, billium;

-- The SQL path of every action, on A's rows; each returns how many rows it read or wrote.
CREATE TEMP TABLE paths (action text PRIMARY KEY, sql text NOT NULL);
INSERT INTO paths VALUES
	('merchants.retrieve', $$SELECT count(*) FROM billium.merchants WHERE id = 'a7000000-0000-0000-0000-000000000001'$$),
	('merchants.update', $$WITH x AS (UPDATE billium.merchants SET name = 'agree A2' WHERE id = 'a7000000-0000-0000-0000-000000000001' RETURNING 1) SELECT count(*) FROM x$$),
	('merchants.delete', $$WITH x AS (DELETE FROM billium.merchants WHERE id = 'a7000000-0000-0000-0000-000000000001' RETURNING 1) SELECT count(*) FROM x$$),
	('billing.retrieve', $$SELECT count(*) FROM billium.merchant_billing WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('billing.update', $$WITH x AS (UPDATE billium.merchant_billing SET plan = 'pro' WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' RETURNING 1) SELECT count(*) FROM x$$),
	('invoices.create', $$WITH x AS (INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a7000000-0000-0000-0000-000000000001', 5) RETURNING id) SELECT count(*) FROM x$$),
	('invoices.retrieve', $$SELECT count(*) FROM billium.invoices WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND id = 'e7000000-0000-0000-0000-000000000001'$$),
	('invoices.list', $$SELECT count(*) FROM billium.invoices WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('invoices.update', $$WITH x AS (UPDATE billium.invoices SET description = 'x' WHERE id = 'e7000000-0000-0000-0000-000000000001' RETURNING id) SELECT count(*) FROM x$$),
	('invoices.cancel', $$WITH x AS (UPDATE billium.invoices SET status = 'cancelled' WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND id = 'e7000000-0000-0000-0000-000000000001' AND status <> 'paid' RETURNING id) SELECT count(*) FROM x$$),
	('invoices.delete', $$WITH x AS (DELETE FROM billium.invoices WHERE id = 'e7000000-0000-0000-0000-000000000001' RETURNING id) SELECT count(*) FROM x$$),
	('products.create', $$WITH x AS (INSERT INTO billium.products (merchant_id, name) VALUES ('a7000000-0000-0000-0000-000000000001', 'n') RETURNING id) SELECT count(*) FROM x$$),
	('products.retrieve', $$SELECT count(*) FROM billium.products WHERE id = 'e7000000-0000-0000-0000-000000000002'$$),
	('products.list', $$SELECT count(*) FROM billium.products WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('products.update', $$WITH x AS (UPDATE billium.products SET name = 'x' WHERE id = 'e7000000-0000-0000-0000-000000000002' RETURNING id) SELECT count(*) FROM x$$),
	('products.delete', $$WITH x AS (DELETE FROM billium.products WHERE id = 'e7000000-0000-0000-0000-000000000002' RETURNING id) SELECT count(*) FROM x$$),
	('customers.create', $$WITH x AS (INSERT INTO billium.customers (merchant_id, name) VALUES ('a7000000-0000-0000-0000-000000000001', 'n') RETURNING id) SELECT count(*) FROM x$$),
	('customers.retrieve', $$SELECT count(*) FROM billium.customers WHERE id = 'e7000000-0000-0000-0000-000000000003'$$),
	('customers.list', $$SELECT count(*) FROM billium.customers WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('customers.update', $$WITH x AS (UPDATE billium.customers SET email = 'x@agree.test' WHERE id = 'e7000000-0000-0000-0000-000000000003' RETURNING id) SELECT count(*) FROM x$$),
	('customers.delete', $$WITH x AS (DELETE FROM billium.customers WHERE id = 'e7000000-0000-0000-0000-000000000003' RETURNING id) SELECT count(*) FROM x$$),
	('team.list', $$SELECT count(*) FROM billium.team_members WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('team.retrieve', $$SELECT count(*) FROM billium.team_members WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND user_id = 'b7000000-0000-0000-0000-000000000002'$$),
	('team.invite', $$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES ('a7000000-0000-0000-0000-000000000001', 'b7000000-0000-0000-0000-000000000003', 'VIEWER') RETURNING user_id) SELECT count(*) FROM x$$),
	('team.remove', $$WITH x AS (DELETE FROM billium.team_members WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND user_id = 'b7000000-0000-0000-0000-000000000002' RETURNING user_id) SELECT count(*) FROM x$$),
	('team.update_role', $$WITH x AS (UPDATE billium.team_members SET role = 'VIEWER' WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND user_id = 'b7000000-0000-0000-0000-000000000002' RETURNING user_id) SELECT count(*) FROM x$$),
	('api_keys.list', $$SELECT count(*) FROM (SELECT id FROM billium.api_keys WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001') s$$),
	('api_keys.retrieve', $$SELECT count(*) FROM (SELECT id FROM billium.api_keys WHERE id = 'c7000000-0000-0000-0000-000000000001') s$$),
	('api_keys.create', $$SELECT count(*) FROM billium.billium_create_api_key('a7000000-0000-0000-0000-000000000001', 'sk', '{}', 'agree')$$),
	('api_keys.update', $$SELECT count(*) FROM billium.billium_update_api_key('c7000000-0000-0000-0000-000000000001', NULL, 'renamed')$$),
	('api_keys.roll', $$SELECT count(*) FROM billium.billium_roll_api_key('c7000000-0000-0000-0000-000000000001')$$),
	('api_keys.revoke', $$SELECT count(*) FROM billium.billium_revoke_api_key('c7000000-0000-0000-0000-000000000001')$$),
	('webhooks.list', $$SELECT count(*) FROM billium.webhooks WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('webhooks.retrieve', $$SELECT count(*) FROM billium.webhooks WHERE id = 'e7000000-0000-0000-0000-000000000004'$$),
	('webhooks.create', $$WITH x AS (INSERT INTO billium.webhooks (merchant_id, url) VALUES ('a7000000-0000-0000-0000-000000000001', 'https://n.test') RETURNING id) SELECT count(*) FROM x$$),
	('webhooks.update', $$WITH x AS (UPDATE billium.webhooks SET url = 'https://x.test' WHERE id = 'e7000000-0000-0000-0000-000000000004' RETURNING id) SELECT count(*) FROM x$$),
	('webhooks.delete', $$WITH x AS (DELETE FROM billium.webhooks WHERE id = 'e7000000-0000-0000-0000-000000000004' RETURNING id) SELECT count(*) FROM x$$),
	('checkout.retrieve', $$SELECT count(*) FROM billium.checkout_settings WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('checkout.update', $$WITH x AS (UPDATE billium.checkout_settings SET settings = '{"x": 1}' WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' RETURNING 1) SELECT count(*) FROM x$$),
	('wallets.list', $$SELECT count(*) FROM billium.wallets WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('wallets.retrieve', $$SELECT count(*) FROM billium.wallets WHERE id = 'e7000000-0000-0000-0000-000000000005'$$),
	('wallets.create', $$WITH x AS (INSERT INTO billium.wallets (merchant_id, address) VALUES ('a7000000-0000-0000-0000-000000000001', 'n') RETURNING id) SELECT count(*) FROM x$$),
	('wallets.update', $$WITH x AS (UPDATE billium.wallets SET address = 'x' WHERE id = 'e7000000-0000-0000-0000-000000000005' RETURNING id) SELECT count(*) FROM x$$),
	('wallets.delete', $$WITH x AS (DELETE FROM billium.wallets WHERE id = 'e7000000-0000-0000-0000-000000000005' RETURNING id) SELECT count(*) FROM x$$),
	('reports.list', $$SELECT count(*) FROM billium.reports WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001'$$),
	('reports.retrieve', $$SELECT count(*) FROM billium.reports WHERE merchant_id = 'a7000000-0000-0000-0000-000000000001' AND currency = 'usd'$$),
	-- Ruled by the OWNER role (issue 14): no key passes, and the function refuses every key.
	('team.transfer_ownership', $$SELECT count(*) FROM billium.billium_transfer_ownership('a7000000-0000-0000-0000-000000000001', 'b7000000-0000-0000-0000-000000000002')$$);

SELECT set_eq('SELECT action FROM paths', 'SELECT name FROM billium.actions WHERE builtin',
	'every built-in action has an SQL path here');

-- Keys: one per permission, with its domain's view where decision 3 requires it (a grant holding
-- a permission other than *:view, *:create and team:invite also holds its domain's view).
SELECT is((billium_act_as('b7000000-0000-0000-0000-000000000001')).user_id,
	'b7000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A to mint the keys');
-- For team.invite, each key also holds the VIEWER role's cap: inviting a VIEWER grants it, and
-- the team guard refuses a grant above the caller's own before any policy is asked.
CREATE TEMP TABLE keys AS
SELECT p.name AS permission, grant_names,
	   billium_test_key('a7000000-0000-0000-0000-000000000001', 'sk', billium_permset_from_names(grant_names)) AS api_key,
	   billium_test_key('a7000000-0000-0000-0000-000000000001', 'sk',
						billium_permset_from_names(grant_names) | billium_role_cap('VIEWER')) AS api_key_viewer
FROM billium.permissions p,
	 LATERAL (SELECT CASE WHEN p.name LIKE '%:view' OR p.name LIKE '%:create' OR p.name = 'team:invite'
						  THEN ARRAY[p.name] ELSE ARRAY[p.name, p.domain || ':view'] END) AS g(grant_names);
SELECT is((SELECT count(*) FROM keys), 34::bigint, 'a key per permission');

-- The verdicts: the gate's, and whether the SQL path read or wrote A's row.  Each try is undone.
CREATE FUNCTION pg_temp.try(sql text, OUT ok boolean, OUT note text) LANGUAGE plpgsql AS $$
DECLARE
	n bigint;
	st text; msg text; det text;
BEGIN
	BEGIN
		EXECUTE sql INTO n;
		ok := coalesce(n, 1) > 0;
		note := format('%s rows', n);
		RAISE EXCEPTION USING ERRCODE = 'TST00', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
		IF st <> 'TST00' THEN
			ok := false;
			note := st || ' ' || msg || coalesce(' ' || det, '');
		END IF;
	END;
END
$$;
CREATE TEMP TABLE verdicts (action text, permission text, gate boolean, gate_note text, path boolean, path_note text);
DO $$
DECLARE
	k record; a record; g record; s record;
BEGIN
	FOR k IN SELECT * FROM keys ORDER BY permission LOOP
		FOR a IN SELECT * FROM paths ORDER BY action LOOP
			PERFORM billium_authenticate(CASE a.action WHEN 'team.invite' THEN k.api_key_viewer ELSE k.api_key END);
			g := pg_temp.try(format('SELECT 1 FROM billium_authorize(%L, %L)', a.action, 'a7000000-0000-0000-0000-000000000001'));
			s := pg_temp.try(a.sql);
			INSERT INTO verdicts VALUES (a.action, k.permission, g.ok, g.note, s.ok, s.note);
		END LOOP;
	END LOOP;
END
$$;

SELECT is_empty(format($$SELECT permission, gate, gate_note, path, path_note FROM verdicts
						WHERE action = %L AND gate IS DISTINCT FROM path$$, a.name),
				format('%s: the gate and the SQL path agree for a key of every single permission', a.name))
FROM billium.actions a WHERE a.builtin ORDER BY a.name;

-- The matrix is not vacuous: each action ruled by a permission is allowed for some key and
-- refused for another; an action ruled by a role, for none.
SELECT is_empty($$SELECT action FROM verdicts JOIN billium.actions a ON a.name = action WHERE a.role IS NULL
	GROUP BY action HAVING bool_and(gate) OR NOT bool_or(gate)$$,
	'every action ruled by a permission is allowed for some key and refused for others');
SELECT is_empty($$SELECT action FROM verdicts JOIN billium.actions a ON a.name = action WHERE a.role IS NOT NULL AND (gate OR path)$$,
	'an action ruled by a role is refused to every key, by the gate and by its SQL path');

SELECT * FROM finish();
ROLLBACK;
