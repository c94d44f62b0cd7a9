-- Key usage (issue 15): the SQL surface.  The counting and the worker need restarts and are in
-- test/suites/usage.sh; here the rows are written by hand, as the worker writes them, and this
-- database is not billium.usage_database (whether billium is preloaded or not), so nothing is
-- counted in it.
CREATE ROLE regress_usage_app;
GRANT billium_api, billium_admin TO regress_usage_app;
SET search_path = billium, public;
\set VERBOSITY default

-- Not counted here, without an error; the reason depends on how the server runs.
SELECT tracking, reason IN ('usage is tracked in billium.usage_database, not in this database',
							'billium is not in shared_preload_libraries: usage is not tracked') AS reason_known,
	   flush_interval_s
FROM billium_key_usage_status();

-- Fixtures: merchants A and B; A's keys: sk_a (api_key:view), sk_a_blind (without), pk_a; B's sk_b.
SELECT merchant_id AS m_a FROM billium_test_merchant('usage A', 'owner@usage-a.test') \gset
SELECT merchant_id AS m_b, owner_id AS owner_b FROM billium_test_merchant('usage B', 'owner@usage-b.test') \gset
SELECT billium_test_key(:'m_a', 'sk', '{invoice:*,api_key:view}') AS sk_a \gset
SELECT billium_test_key(:'m_a', 'sk', '{invoice:view}') AS sk_a_blind \gset
SELECT billium_test_key(:'m_a', 'pk', '{invoice:view}') AS pk_a \gset
SELECT billium_test_key(:'m_b', 'sk', '{invoice:*,api_key:view}') AS sk_b \gset
SELECT (billium_key_verify(:'sk_a')).key_id AS id_a, (billium_key_verify(:'sk_a_blind')).key_id AS id_a_blind,
	   (billium_key_verify(:'pk_a')).key_id AS id_pk_a, (billium_key_verify(:'sk_b')).key_id AS id_b \gset
UPDATE api_keys SET name = CASE id WHEN :'id_a' THEN 'a' WHEN :'id_a_blind' THEN 'a blind'
								   WHEN :'id_pk_a' THEN 'a public' ELSE 'b' END;

-- Verifying keys here writes nothing.
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SELECT kind FROM billium_authorize('invoices.list', :'m_a');
COMMIT;
SELECT count(*) AS usage_rows FROM key_usage;

-- As the worker writes them: sk_a used 12 times, sk_b 3 times; pk_a and sk_a_blind never.
INSERT INTO key_usage (key_id, merchant_id, last_used_at, request_count) VALUES
	(:'id_a', :'m_a', '2026-01-02 03:04:05+00', 12),
	(:'id_b', :'m_b', '2026-01-03 00:00:00+00', 3);

-- The listing, as key sk_a: merchant A's keys only, with their usage (null: never used).
SET ROLE regress_usage_app;
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
SET LOCAL timezone = 'UTC';
SELECT name, key_type, last_used_at, request_count FROM billium_key_usage() ORDER BY name;
SELECT count(*) AS of_b FROM billium_key_usage(:'m_b');
SELECT merchant_id = :'m_a' AS own, request_count FROM key_usage;
COMMIT;

-- A key without api_key:view sees no key and no usage; a pk key neither; no principal neither.
BEGIN;
SET LOCAL billium.api_key = :'sk_a_blind';
SELECT (SELECT count(*) FROM billium_key_usage()) AS keys, (SELECT count(*) FROM key_usage) AS usage;
COMMIT;
BEGIN;
SET LOCAL billium.api_key = :'pk_a';
SELECT (SELECT count(*) FROM billium_key_usage()) AS keys, (SELECT count(*) FROM key_usage) AS usage;
COMMIT;
SELECT (SELECT count(*) FROM billium_key_usage()) AS keys, (SELECT count(*) FROM key_usage) AS usage;

-- A dashboard user sees the keys of their own teams.
BEGIN;
SELECT (billium_act_as(:'owner_b')).kind;
SELECT name, request_count FROM billium_key_usage();
COMMIT;

-- Only the worker writes: no caller may insert, update or delete usage.
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
INSERT INTO key_usage (key_id, merchant_id, last_used_at, request_count) VALUES (:'id_a_blind', :'m_a', now(), 1);
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
UPDATE key_usage SET request_count = 0;
ROLLBACK;
BEGIN;
SET LOCAL billium.api_key = :'sk_a';
DELETE FROM key_usage;
ROLLBACK;
RESET ROLE;

-- A count is never negative.
\set VERBOSITY terse
INSERT INTO key_usage (key_id, merchant_id, last_used_at, request_count) VALUES (:'id_a_blind', :'m_a', now(), -1);
\set VERBOSITY default

-- A deleted key's usage goes with it (here: merchant B with its keys).
DELETE FROM merchants WHERE id = :'m_b';
SELECT count(*) AS usage_of_b FROM key_usage WHERE merchant_id = :'m_b';
SELECT count(*) AS usage_of_a FROM key_usage WHERE merchant_id = :'m_a';

-- Nothing of it is open to PUBLIC.
SELECT p.proname, has_function_privilege('public', p.oid, 'EXECUTE') AS public_may_run,
	   has_function_privilege('billium_api', p.oid, 'EXECUTE') AS billium_api_may_run
FROM pg_proc p
WHERE p.pronamespace = 'billium'::regnamespace AND p.proname LIKE '%usage%'
ORDER BY p.proname;

DELETE FROM merchants WHERE id = :'m_a';
DROP OWNED BY regress_usage_app;
DROP ROLE regress_usage_app;
