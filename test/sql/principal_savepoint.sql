-- A principal lives as long as the (sub)transaction that set it (issue 12, item 9): set inside a
-- savepoint that is rolled back, it is forgotten with the savepoint, and the principal from
-- before the savepoint is back, as with SET LOCAL.  A released savepoint keeps it.  The same for
-- a PL/pgSQL block whose exception handler rolls its work back.  Run as a role granted billium_api
-- and billium_admin; every principal is compared by key id or user id.
DO $$
DECLARE
	newest text;
BEGIN
	SELECT version INTO newest FROM pg_available_extension_versions WHERE name = 'billium'
	ORDER BY pg_catalog.string_to_array(version, '.')::int[] DESC LIMIT 1;
	IF pg_catalog.string_to_array((SELECT extversion FROM pg_extension WHERE extname = 'billium'), '.')::int[]
	   < pg_catalog.string_to_array(newest, '.')::int[] THEN
		EXECUTE format('ALTER EXTENSION billium UPDATE TO %L', newest);
	END IF;
END
$$;
CREATE ROLE regress_savepoint_app;
GRANT billium_api, billium_admin TO regress_savepoint_app;
SET search_path = billium, public;
SELECT merchant_id AS m, owner_id AS owner FROM billium_test_merchant('savepoints', 'owner@savepoint.regress') \gset
SELECT billium_test_key(:'m', 'sk', '{*}') AS sk_a \gset
SELECT billium_test_key(:'m', 'sk', '{invoice:view}') AS sk_b \gset
SELECT id AS key_a FROM api_keys WHERE merchant_id = :'m' AND permissions = '{*}' \gset
SELECT id AS key_b FROM api_keys WHERE merchant_id = :'m' AND permissions = '{invoice:view}' \gset
-- Who is the principal now: a, b, the owner, none, or something else.
CREATE FUNCTION pg_temp.who() RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN p IS NULL THEN 'none'
				WHEN p.key_id = current_setting('savepoint.key_a')::uuid THEN 'key a'
				WHEN p.key_id = current_setting('savepoint.key_b')::uuid THEN 'key b'
				WHEN p.kind = 'user' AND p.user_id = current_setting('savepoint.owner')::uuid THEN 'owner'
				ELSE 'unexpected' END
	FROM billium.billium_current_principal() p
$$;
SELECT set_config('savepoint.key_a', :'key_a', false) IS NOT NULL AS a,
	   set_config('savepoint.key_b', :'key_b', false) IS NOT NULL AS b,
	   set_config('savepoint.owner', :'owner', false) IS NOT NULL AS owner,
	   set_config('savepoint.sk_a', :'sk_a', false) IS NOT NULL AS sk_a;
SET ROLE regress_savepoint_app;

-- 1. A key authenticated inside a savepoint that is rolled back: no principal afterwards.
BEGIN;
SAVEPOINT s;
SELECT kind FROM billium_authenticate(:'sk_a');
SELECT pg_temp.who() AS inside;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_rollback_to;
COMMIT;

-- 2. Key a before the savepoint, key b inside it: rolled back, key a is the principal again.
BEGIN;
SELECT kind FROM billium_authenticate(:'sk_a');
SAVEPOINT s;
SELECT kind FROM billium_authenticate(:'sk_b');
SELECT pg_temp.who() AS inside;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_rollback_to;
-- The gate agrees: key a (every permission) may create an invoice, which key b may not.
SELECT kind FROM billium_authorize('invoices.create', :'m');
COMMIT;

-- 3. A released savepoint keeps its principal, until an enclosing savepoint is rolled back.
BEGIN;
SAVEPOINT outer_sp;
SAVEPOINT inner_sp;
SELECT kind FROM billium_authenticate(:'sk_b');
RELEASE SAVEPOINT inner_sp;
SELECT pg_temp.who() AS after_release;
ROLLBACK TO SAVEPOINT outer_sp;
SELECT pg_temp.who() AS after_outer_rollback;
COMMIT;

-- 4. Several changes in one savepoint: the principal from before all of them comes back.
BEGIN;
SELECT kind FROM billium_authenticate(:'sk_b');
SAVEPOINT s;
SELECT kind FROM billium_authenticate(:'sk_a');
SELECT kind FROM billium_act_as(:'owner');
SELECT pg_temp.who() AS inside;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_rollback_to;
-- A second round in the same (restarted) savepoint.
SELECT kind FROM billium_act_as(:'owner');
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_second_rollback_to;
COMMIT;

-- 5. billium_act_as inside a savepoint, rolled back.
BEGIN;
SAVEPOINT s;
SELECT kind FROM billium_act_as(:'owner');
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_rollback_to;
COMMIT;

-- 6. A PL/pgSQL exception handler rolls back its block, and the principal set in it.
BEGIN;
DO $$
BEGIN
	BEGIN
		PERFORM billium.billium_authenticate(current_setting('savepoint.sk_a'));
		RAISE EXCEPTION 'undo the block';
	EXCEPTION WHEN raise_exception THEN
		NULL;
	END;
END
$$;
SELECT pg_temp.who() AS after_handler;
COMMIT;

-- 7. SET LOCAL billium.api_key inside a savepoint behaves the same way (it always did).
BEGIN;
SAVEPOINT s;
SELECT set_config('billium.api_key', :'sk_a', true) IS NOT NULL AS set_local;
SELECT pg_temp.who() AS inside;
ROLLBACK TO SAVEPOINT s;
SELECT pg_temp.who() AS after_rollback_to;
COMMIT;

-- 8. A principal committed in a savepoint's transaction ends with the transaction, as before.
BEGIN;
SAVEPOINT s;
SELECT kind FROM billium_authenticate(:'sk_a');
RELEASE SAVEPOINT s;
COMMIT;
SELECT pg_temp.who() AS next_transaction;

RESET ROLE;
DELETE FROM merchants WHERE id = :'m';
DELETE FROM users WHERE id = :'owner';
DROP ROLE regress_savepoint_app;
