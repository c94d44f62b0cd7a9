-- The plan shape of row-level security (issue 4): every policy asks for the caller's merchants
-- once per statement, as an InitPlan (the (SELECT ...)::uuid[] wrapper), never once per row,
-- and the merchant_id index is still used.  20,000 invoices across 100 merchants, analyzed; the
-- caller is the OWNER of one of them.  enable_seqscan stays on: the index is chosen on merit.
SET client_min_messages = warning;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.3.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.3.0';
	END IF;
END $$;
RESET client_min_messages;
CREATE ROLE regress_rls_plan LOGIN;
GRANT billium_api, billium_admin TO regress_rls_plan;
SET search_path = billium, public;

-- Fixtures (superuser): 100 merchants, each with an OWNER, 200 invoices, 20 products, customers,
-- webhooks, wallets, checkout settings and billing; a few keys and audit rows.
INSERT INTO merchants (id, name)
SELECT ('e4200000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'plan merchant ' || i
FROM generate_series(1, 100) AS i;
INSERT INTO users (id, email)
SELECT ('e4300000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'owner' || i || '@rls-plan.regress'
FROM generate_series(1, 100) AS i;
INSERT INTO team_members (merchant_id, user_id, role)
SELECT ('e4200000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,
	   ('e4300000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'OWNER'
FROM generate_series(1, 100) AS i;
INSERT INTO invoices (merchant_id, amount, status)
SELECT ('e4200000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid, i,
	   (ARRAY['open', 'paid', 'cancelled'])[i % 3 + 1]
FROM generate_series(1, 20000) AS i;
INSERT INTO products (merchant_id, name, price)
SELECT ('e4200000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid, 'product ' || i, i
FROM generate_series(1, 2000) AS i;
INSERT INTO customers (merchant_id, name)
SELECT ('e4200000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid, 'customer ' || i
FROM generate_series(1, 2000) AS i;
INSERT INTO webhooks (merchant_id, url)
SELECT ('e4200000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid, 'https://example.com/' || i
FROM generate_series(1, 2000) AS i;
INSERT INTO wallets (merchant_id, address)
SELECT ('e4200000-0000-0000-0000-' || lpad((i % 100 + 1)::text, 12, '0'))::uuid, 'addr' || i
FROM generate_series(1, 2000) AS i;
INSERT INTO checkout_settings (merchant_id)
SELECT ('e4200000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 100) AS i;
INSERT INTO merchant_billing (merchant_id)
SELECT ('e4200000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid FROM generate_series(1, 100) AS i;
SELECT count(*) > 0 AS keys FROM (
	SELECT billium_test_key(('e4200000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, 'sk', '{invoice:view}')
	FROM generate_series(1, 100) AS i) AS k;
ANALYZE merchants, users, team_members, api_keys, invoices, products, customers, webhooks, wallets,
	checkout_settings, merchant_billing, audit_log;

SET ROLE regress_rls_plan;
BEGIN;
SELECT kind FROM billium_act_as('e4300000-0000-0000-0000-000000000042');
-- The caller sees its own merchant's share, and only that.
SELECT count(*) AS invoices, count(DISTINCT merchant_id) AS merchants FROM invoices;

-- invoices: InitPlan 1, every merchant where the caller may see a row, feeds the merchant_id
-- index (the primary key's leading column); InitPlan 2 says whether the caller sees every row
-- of those (issue 15: an sk key or a session that creates nowhere it may not view), and then the
-- rest of the policy, a pk key's own rows and a create-only caller's INSERT ... RETURNING
-- (InitPlans 3 to 5), is never evaluated.
EXPLAIN (COSTS OFF) SELECT * FROM invoices;
EXPLAIN (COSTS OFF) SELECT * FROM invoices WHERE status = 'paid';
EXPLAIN (COSTS OFF) UPDATE invoices SET status = 'paid' WHERE status = 'open';
EXPLAIN (COSTS OFF) DELETE FROM invoices WHERE amount < 10;
-- The other tables: one InitPlan per array, whatever their size.
EXPLAIN (COSTS OFF) SELECT * FROM products;
EXPLAIN (COSTS OFF) SELECT * FROM customers;
EXPLAIN (COSTS OFF) SELECT * FROM webhooks;
EXPLAIN (COSTS OFF) SELECT * FROM wallets;
EXPLAIN (COSTS OFF) SELECT * FROM checkout_settings;
EXPLAIN (COSTS OFF) SELECT * FROM merchant_billing;
EXPLAIN (COSTS OFF) SELECT * FROM merchants;
EXPLAIN (COSTS OFF) SELECT * FROM users;
EXPLAIN (COSTS OFF) SELECT * FROM team_members;
EXPLAIN (COSTS OFF) SELECT id, merchant_id, key_type, name, hint FROM api_keys;
EXPLAIN (COSTS OFF) SELECT * FROM audit_log;
EXPLAIN (COSTS OFF) SELECT * FROM reports;
COMMIT;

-- Once per statement, not per row: run, the InitPlans loop once while the scan reads 200 rows,
-- and the function behind them is called once per policy (pg_stat_xact_user_functions counts
-- this transaction's calls; track_functions is set before SET ROLE, as it needs a superuser).
RESET ROLE;
SET track_functions = 'all';
SET ROLE regress_rls_plan;
BEGIN;
SELECT kind FROM billium_act_as('e4300000-0000-0000-0000-000000000042');
-- (The heap block count, which depends on the physical layout, is left out, and so is 18's count
-- of index searches; BUFFERS OFF, as 18 turns buffers on by default; 18's "rows=200.00" reads
-- "rows=200" as before.  From 17 InitPlan values print as (InitPlan 1).col1, not $0:
-- expected/rls_plan_1.out.)
CREATE FUNCTION pg_temp.explain_analyze(sql text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE
	line text;
BEGIN
	FOR line IN EXECUTE 'EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF, TIMING OFF, SUMMARY OFF) ' || sql LOOP
		IF line NOT LIKE '%Heap Blocks:%' AND line NOT LIKE '%Index Searches:%' THEN
			RETURN NEXT regexp_replace(line, 'rows=(\d+)\.00 ', 'rows=\1 ', 'g');
		END IF;
	END LOOP;
END
$$;
-- The OWNER sees every row of its merchant: the rest of the invoice policy never runs.
SELECT pg_temp.explain_analyze('SELECT * FROM invoices');
SELECT funcname, calls FROM pg_stat_xact_user_functions
WHERE funcname LIKE 'billium\_merchants\_%' OR funcname LIKE 'billium\_p%' ORDER BY funcname;
SELECT count(*) AS invoices, sum(amount) AS total FROM invoices WHERE status <> 'cancelled';
SELECT funcname, calls FROM pg_stat_xact_user_functions
WHERE funcname LIKE 'billium\_merchants\_%' OR funcname LIKE 'billium\_p%' ORDER BY funcname;
-- A pk key holding invoice:view sees only the invoices it created (none here): the same plan,
-- its merchant's rows from the index, and the rest of the policy per row.
SELECT kind FROM billium_authenticate(billium_test_key('e4200000-0000-0000-0000-000000000042', 'pk', '{invoice:view}'));
SELECT pg_temp.explain_analyze('SELECT * FROM invoices');
ROLLBACK;
RESET ROLE;
RESET track_functions;
DROP ROLE regress_rls_plan;
