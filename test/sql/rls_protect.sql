-- billium_protect_table / billium_unprotect_table (issue 4): a user's own table, in a schema of
-- its own, under a domain's policies; calling it again is harmless; unprotecting removes exactly
-- what was added; bad domains, columns and callers are refused with nothing changed; names that
-- look like SQL stay names.  The tables belong to regress_rls_owner, a login role granted
-- billium_api and billium_admin; fixtures are written as the superuser.
SET client_min_messages = warning;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') < '0.3.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.3.0';
	END IF;
END $$;
RESET client_min_messages;
CREATE ROLE regress_rls_owner LOGIN;
GRANT billium_api, billium_admin TO regress_rls_owner;
CREATE ROLE regress_rls_stranger LOGIN;
GRANT billium_api TO regress_rls_stranger;
CREATE SCHEMA regress_rls_app AUTHORIZATION regress_rls_owner;
GRANT USAGE ON SCHEMA regress_rls_app TO regress_rls_stranger;
SET search_path = billium, public;
\set VERBOSITY default
\set SHOW_CONTEXT never
\set ON_ERROR_ROLLBACK on

-- Two merchants, each with an OWNER; a MEMBER of merchant one (no deletes); a VIEWER of
-- merchant one (view only).
INSERT INTO merchants (id, name) VALUES
	('e4000000-0000-0000-0000-0000000000a1', 'rls protect one'),
	('e4000000-0000-0000-0000-0000000000a2', 'rls protect two');
INSERT INTO users (id, email) VALUES
	('e4100000-0000-0000-0000-0000000000a1', 'owner1@rls-protect.regress'),
	('e4100000-0000-0000-0000-0000000000a2', 'owner2@rls-protect.regress'),
	('e4100000-0000-0000-0000-0000000000a3', 'member@rls-protect.regress'),
	('e4100000-0000-0000-0000-0000000000a4', 'viewer@rls-protect.regress');
INSERT INTO team_members (merchant_id, user_id, role) VALUES
	('e4000000-0000-0000-0000-0000000000a1', 'e4100000-0000-0000-0000-0000000000a1', 'OWNER'),
	('e4000000-0000-0000-0000-0000000000a2', 'e4100000-0000-0000-0000-0000000000a2', 'OWNER'),
	('e4000000-0000-0000-0000-0000000000a1', 'e4100000-0000-0000-0000-0000000000a3', 'MEMBER'),
	('e4000000-0000-0000-0000-0000000000a1', 'e4100000-0000-0000-0000-0000000000a4', 'VIEWER');
\set m1 '''e4000000-0000-0000-0000-0000000000a1'''
\set m2 '''e4000000-0000-0000-0000-0000000000a2'''
\set owner1 '''e4100000-0000-0000-0000-0000000000a1'''
\set owner2 '''e4100000-0000-0000-0000-0000000000a2'''
\set member '''e4100000-0000-0000-0000-0000000000a3'''
\set viewer '''e4100000-0000-0000-0000-0000000000a4'''

-- The policies and row-level security settings of the app's tables.
CREATE VIEW pg_temp.protection AS
	SELECT c.relname AS "table", c.relrowsecurity AS rls, c.relforcerowsecurity AS forced,
		   p.polname AS policy, p.polcmd AS cmd,
		   pg_get_expr(p.polqual, p.polrelid) AS using_expr, pg_get_expr(p.polwithcheck, p.polrelid) AS check_expr
	FROM pg_class c LEFT JOIN pg_policy p ON p.polrelid = c.oid
	WHERE c.relnamespace = 'regress_rls_app'::regnamespace AND c.relkind = 'r';
GRANT SELECT ON pg_temp.protection TO PUBLIC;

SET ROLE regress_rls_owner;
CREATE TABLE regress_rls_app.orders (
	merchant_id uuid NOT NULL,
	id serial,
	total bigint NOT NULL,
	PRIMARY KEY (merchant_id, id)
);
-- A table whose name is SQL, and a column too.
CREATE TABLE regress_rls_app."x""; DROP TABLE y; --" (
	"shop""); DROP TABLE y; --" uuid NOT NULL,
	note text
);
CREATE TABLE regress_rls_app.y (a int);
CREATE TABLE regress_rls_app.notes (merchant_id text, body text);
-- A table that already had row-level security on (not forced) and a policy of its own.
CREATE TABLE regress_rls_app.tagged (merchant_id uuid NOT NULL, tag text);
ALTER TABLE regress_rls_app.tagged ENABLE ROW LEVEL SECURITY;
CREATE POLICY mine ON regress_rls_app.tagged FOR SELECT USING (tag = 'public');
RESET ROLE;
INSERT INTO regress_rls_app.orders (merchant_id, total) VALUES (:m1, 100), (:m1, 200), (:m2, 300);
SET ROLE regress_rls_owner;

------------------------------------------------------------------------------------------------
-- Protect, look at what it made, call it again.
------------------------------------------------------------------------------------------------
SELECT billium_protect_table('regress_rls_app.orders', 'invoice');
SELECT "table", rls, forced, policy, cmd, using_expr, check_expr FROM pg_temp.protection
WHERE "table" = 'orders' ORDER BY policy;
SELECT pol.polname, obj_description(pol.oid, 'pg_policy') FROM pg_policy pol
WHERE pol.polrelid = 'regress_rls_app.orders'::regclass ORDER BY 1;
SELECT billium_protect_table('regress_rls_app.orders', 'invoice');
SELECT count(*) AS policies, bool_and(rls AND forced) AS rls_forced FROM pg_temp.protection WHERE "table" = 'orders';

-- The owner itself is now under the policies (forced): no principal, no rows, no writes.
SELECT count(*) AS orders FROM regress_rls_app.orders;
INSERT INTO regress_rls_app.orders (merchant_id, total) VALUES (:m1, 1);

-- As merchant one's OWNER: its orders only; writes to merchant two refused.
BEGIN;
SELECT kind FROM billium_act_as(:owner1);
SELECT merchant_id = :m1 AS own, total FROM regress_rls_app.orders ORDER BY total;
INSERT INTO regress_rls_app.orders (merchant_id, total) VALUES (:m1, 400) RETURNING total;
INSERT INTO regress_rls_app.orders (merchant_id, total) VALUES (:m2, 500);
UPDATE regress_rls_app.orders SET total = total + 1 RETURNING total;
ROLLBACK;
-- A MEMBER of merchant one: views, creates and edits, never deletes; a VIEWER only views.
BEGIN;
SELECT kind FROM billium_act_as(:member);
WITH gone AS (DELETE FROM regress_rls_app.orders RETURNING 1) SELECT count(*) AS deleted FROM gone;
WITH changed AS (UPDATE regress_rls_app.orders SET total = total RETURNING 1) SELECT count(*) AS edited FROM changed;
ROLLBACK;
BEGIN;
SELECT kind FROM billium_act_as(:viewer);
SELECT count(*) AS seen FROM regress_rls_app.orders;
INSERT INTO regress_rls_app.orders (merchant_id, total) VALUES (:m1, 1);
WITH changed AS (UPDATE regress_rls_app.orders SET total = total RETURNING 1) SELECT count(*) AS edited FROM changed;
ROLLBACK;
-- A pk key of merchant one holds invoice:view and invoice:create: it sees the merchant's orders
-- (the pk rule for billium's own invoices needs their created_by_key column).
RESET ROLE;
SELECT billium_test_key(:m1, 'pk', '{invoice:view,invoice:create,product:view}') AS pk \gset
SET ROLE regress_rls_owner;
BEGIN;
SET LOCAL billium.api_key = :'pk';
SELECT count(*) AS seen FROM regress_rls_app.orders;
ROLLBACK;

-- Another domain replaces the policies rather than adding to them.
SELECT billium_protect_table('regress_rls_app.orders', 'customer');
SELECT policy, cmd, coalesce(using_expr, check_expr) AS expr FROM pg_temp.protection
WHERE "table" = 'orders' ORDER BY policy;
-- A domain without create, edit or delete (report): those commands are refused.
SELECT billium_protect_table('regress_rls_app.orders', 'report');
SELECT policy, cmd, coalesce(using_expr, check_expr) AS expr FROM pg_temp.protection
WHERE "table" = 'orders' ORDER BY policy;

------------------------------------------------------------------------------------------------
-- Unprotect: exactly what was added goes, and the settings from before come back.
------------------------------------------------------------------------------------------------
SELECT billium_unprotect_table('regress_rls_app.orders');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'orders';
SELECT count(*) AS orders FROM regress_rls_app.orders;
SELECT billium_unprotect_table('regress_rls_app.orders');	-- again: nothing to do
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'orders';

-- A table with row-level security and a policy of its own keeps both.
SELECT billium_protect_table('regress_rls_app.tagged', 'wallet');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'tagged' ORDER BY policy;
SELECT billium_protect_table('regress_rls_app.tagged', 'wallet');
SELECT billium_unprotect_table('regress_rls_app.tagged');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'tagged' ORDER BY policy;

------------------------------------------------------------------------------------------------
-- Names that look like SQL are only names.
------------------------------------------------------------------------------------------------
SELECT billium_protect_table('regress_rls_app."x""; DROP TABLE y; --"', 'webhook', 'shop"); DROP TABLE y; --');
SELECT "table", rls, forced, policy, coalesce(using_expr, check_expr) AS expr FROM pg_temp.protection
WHERE "table" LIKE 'x%' ORDER BY policy;
SELECT to_regclass('regress_rls_app.y') IS NOT NULL AS y_still_there;
BEGIN;
SELECT kind FROM billium_act_as(:owner2);
INSERT INTO regress_rls_app."x""; DROP TABLE y; --" VALUES (:m2, 'ok') RETURNING note;
INSERT INTO regress_rls_app."x""; DROP TABLE y; --" VALUES (:m1, 'not mine');
ROLLBACK;
SELECT billium_unprotect_table('regress_rls_app."x""; DROP TABLE y; --"');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" LIKE 'x%';
SELECT to_regclass('regress_rls_app.y') IS NOT NULL AS y_still_there;

------------------------------------------------------------------------------------------------
-- Refusals, each with nothing changed: the table stays protected for invoice as it was.
------------------------------------------------------------------------------------------------
-- refused(sql): the SQLSTATE and message of the error sql raises, or 'ok'.
CREATE FUNCTION pg_temp.refused(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ' ' || SQLERRM;
END
$$;
SELECT billium_protect_table('regress_rls_app.orders', 'invoice');
SELECT pg_temp.refused(sql) FROM (VALUES
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', 'invoices')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', 'invoice'' OR true --')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', 'Invoice')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', 'customer', 'shop_id')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', 'customer', 'merchant_id; DROP TABLE y')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.notes', 'invoice')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.nope', 'invoice')$q$),
	($q$SELECT billium.billium_protect_table('regress_rls_app.orders', NULL)$q$),
	($q$SELECT billium.billium_protect_table('billium.reports', 'report')$q$)
) AS t(sql);
SELECT billium_protect_table('regress_rls_app.orders', 'customer', 'shop_id');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" IN ('orders', 'notes') ORDER BY 1, 4;
-- Not the table's owner (nor a superuser): refused either way.
RESET ROLE;
SET ROLE regress_rls_stranger;
SELECT billium_protect_table('regress_rls_app.orders', 'customer');
SELECT billium_unprotect_table('regress_rls_app.orders');
RESET ROLE;
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'orders' ORDER BY policy;
-- A superuser may.
SELECT billium_unprotect_table('regress_rls_app.orders');
SELECT "table", rls, forced, policy FROM pg_temp.protection WHERE "table" = 'orders';
SELECT to_regclass('regress_rls_app.y') IS NOT NULL AS y_still_there;

-- Cleanup: the schema and the roles.
SET client_min_messages = warning;
DROP SCHEMA regress_rls_app CASCADE;
RESET client_min_messages;
DROP FUNCTION pg_temp.refused(text);
DROP ROLE regress_rls_stranger;
DROP ROLE regress_rls_owner;
