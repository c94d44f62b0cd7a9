-- Secrets and credentials in settings (issue 12, item 2).  billium.jwt_secret is a server-level
-- setting (postgresql.conf, an included file, ALTER SYSTEM; applied on reload): with billium
-- preloaded, SET, ALTER ROLE/DATABASE ... SET and a function's SET clause are refused, so it can
-- never land in pg_db_role_setting or pg_proc.proconfig, which every role reads.  billium.api_key
-- and billium.session (a transaction's credentials) are refused there too.  An ordinary role finds
-- the secret in no catalog or view it can read.  billium_check_secret_settings() (superusers
-- only) lists any secret stored before these rules (simulated by writing the catalog directly),
-- and a backend warns once, at its first principal, while one is stored.
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
\set VERBOSITY default
CREATE ROLE regress_secret_reader;
GRANT billium_api TO regress_secret_reader;
CREATE ROLE regress_secret_stored;
-- The cluster has a secret (scripts/lib.sh), readable by a superuser.
SELECT current_setting('billium.jwt_secret') <> '' AS secret_configured;

-- 1. Nowhere to store it but the server's configuration, not even for a superuser.
SET billium.jwt_secret = 'per-session';
BEGIN;
SET LOCAL billium.jwt_secret = 'per-transaction';
ROLLBACK;
SELECT set_config('billium.jwt_secret', 'per-session', false);
ALTER ROLE regress_secret_reader SET billium.jwt_secret = 'per-role';
ALTER ROLE regress_secret_reader IN DATABASE contrib_regression SET billium.jwt_secret = 'per-role-and-database';
ALTER ROLE ALL SET billium.jwt_secret = 'every-role';
ALTER DATABASE contrib_regression SET billium.jwt_secret = 'per-database';
CREATE FUNCTION pg_temp.with_secret() RETURNS int LANGUAGE sql SET billium.jwt_secret = 'per-function' AS 'SELECT 1';
-- 2. Nor a credential: a key or a session stored for a role, a database or a function.
ALTER ROLE regress_secret_reader SET billium.api_key = 'sk_stored_for_every_session';
ALTER DATABASE contrib_regression SET billium.session = 'a.b.c';
CREATE FUNCTION pg_temp.with_key() RETURNS int LANGUAGE sql SET billium.api_key = 'sk_in_a_function' AS 'SELECT 1';
-- ... while a transaction still presents its own, and an empty value may be stored (it is no key).
BEGIN;
SET LOCAL billium.api_key = 'sk_this_transaction_only';
SELECT current_setting('billium.api_key') <> '' AS key_presented;
ROLLBACK;
ALTER ROLE regress_secret_stored SET billium.api_key = '';
ALTER ROLE regress_secret_stored RESET billium.api_key;
-- Nothing was stored.
SELECT count(*) AS stored FROM pg_db_role_setting s, unnest(s.setconfig) c WHERE c ILIKE 'billium.%';

-- 3. An ordinary role reads the secret nowhere.  (The secret reaches it through a fixture table,
-- so that no statement's text carries it.)
CREATE TABLE pg_temp.the_secret AS SELECT current_setting('billium.jwt_secret') AS s;
GRANT SELECT ON pg_temp.the_secret TO regress_secret_reader;
SET ROLE regress_secret_reader;
SHOW billium.jwt_secret;
SELECT current_setting('billium.jwt_secret');
SELECT current_setting('billium.jwt_secret', true);
SELECT count(*) AS in_pg_settings FROM pg_settings WHERE name = 'billium.jwt_secret';
SELECT count(*) AS pg_file_settings FROM pg_file_settings;
SELECT v.catalog, count(*) FILTER (WHERE strpos(v.row_text, (SELECT s FROM pg_temp.the_secret)) > 0) AS rows_holding_the_secret
FROM (SELECT 'pg_settings' AS catalog, t::text AS row_text FROM pg_settings t
	  UNION ALL SELECT 'pg_roles', t::text FROM pg_roles t
	  UNION ALL SELECT 'pg_db_role_setting', t::text FROM pg_db_role_setting t
	  UNION ALL SELECT 'pg_proc', t::text FROM pg_proc t WHERE t.proconfig IS NOT NULL
	  UNION ALL SELECT 'pg_stat_activity', t::text FROM pg_stat_activity t
	  UNION ALL SELECT 'pg_database', t::text FROM pg_database t) AS v
GROUP BY v.catalog ORDER BY v.catalog;
-- The operator's check is for superusers only.
SELECT * FROM billium.billium_check_secret_settings();
RESET ROLE;
DROP TABLE pg_temp.the_secret;

-- 4. A secret stored before these rules (written here straight into the catalogs, as ALTER ROLE
-- or CREATE FUNCTION ... SET would have stored it while billium was not loaded): the check names
-- each place and the statement that removes it, never the value.
SELECT * FROM billium.billium_check_secret_settings();
INSERT INTO pg_db_role_setting (setdatabase, setrole, setconfig)
	SELECT 0, oid, '{work_mem=64MB,billium.jwt_secret=leaked-value}' FROM pg_roles WHERE rolname = 'regress_secret_stored';
CREATE FUNCTION public.regress_secret_function() RETURNS int LANGUAGE sql AS 'SELECT 1';
UPDATE pg_proc SET proconfig = '{Billium.Api_Key=sk_leaked_value}' WHERE proname = 'regress_secret_function';
SELECT * FROM billium.billium_check_secret_settings();
-- A new backend warns at its first principal: the superuser in its session, ...
\c
SELECT billium.billium_current_principal() IS NULL AS no_principal;
SELECT billium.billium_current_principal() IS NULL AS warned_once;
-- ... an ordinary role only in the server's log (it cannot act on it).
\c
SET ROLE regress_secret_reader;
SELECT billium.billium_current_principal() IS NULL AS no_principal_no_warning;
RESET ROLE;
-- A stored server-level setting cannot be RESET per role either; the removal function, which
-- only superusers may call, takes out the secrets and leaves the settings around them.
ALTER ROLE regress_secret_stored RESET billium.jwt_secret;
SET ROLE regress_secret_reader;
SELECT billium.billium_remove_secret_settings();
RESET ROLE;
SELECT billium.billium_remove_secret_settings() AS removed;
SELECT * FROM billium.billium_check_secret_settings();
SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = 'regress_secret_stored';
SELECT proconfig FROM pg_proc WHERE proname = 'regress_secret_function';

DROP FUNCTION public.regress_secret_function();
ALTER ROLE regress_secret_stored RESET ALL;
DROP ROLE regress_secret_reader;
DROP ROLE regress_secret_stored;
