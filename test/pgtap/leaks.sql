-- Leaks across merchants (issue 7), beyond what the policies decide row by row:
--
--   1. PostgreSQL's own approach in src/test/regress/sql/rowsecurity.sql: a deliberately leaky,
--      very cheap, non-LEAKPROOF function (f_leak there, pg_temp.leak here) in the WHERE clause
--      of a query against every protected table and the reports view, on whole rows and on each
--      column, in SELECT, UPDATE and DELETE.  If the planner ever ran it before a policy, it
--      would see rows the principal may not: it writes every value it is shown to
--      pg_temp.leaked, which must then hold exactly the rows the principal sees, and none of
--      merchant B's.
--   2. Unique and foreign-key violations: an INSERT naming B (its merchant, a user of its team)
--      fails exactly as one naming nothing that exists, and no error text shows B's data.
--   3. Plans: a statement prepared under one principal and executed again, with a generic plan,
--      under another on the same connection returns the second principal's rows only.
--
-- Everything runs as an ordinary role (billium_api, billium_admin), not the superuser.
BEGIN;
-- The newest version available, as a deployment would run after ALTER EXTENSION billium UPDATE.
DO $$
DECLARE
	newest text := (SELECT version FROM pg_available_extension_versions WHERE name = 'billium'
					ORDER BY string_to_array(version, '.')::int[] DESC LIMIT 1);
BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') <> newest THEN
		EXECUTE format('ALTER EXTENSION billium UPDATE TO %L', newest);
	END IF;
END
$$;
SELECT plan(217);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  Merchant A ...001 and B ...002.  A: OWNER, VIEWER.  B: OWNER,
-- MEMBER.  Every value of B's that is not an id says "secret"; no value of A's does.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a0000000-0000-0000-0000-000000000001', 'leaks A'),
	('a0000000-0000-0000-0000-000000000002', 'leaks B secret');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner-a@leaks.test'),
	('b0000000-0000-0000-0000-000000000004', 'viewer-a@leaks.test'),
	('b0000000-0000-0000-0000-000000000006', 'owner-b-secret@leaks.test'),
	('b0000000-0000-0000-0000-000000000007', 'member-b-secret@leaks.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'VIEWER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000007', 'MEMBER');
INSERT INTO billium.invoices (merchant_id, id, amount, description) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a1', 100, 'A one'),
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a2', 200, 'A two'),
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a3', 300, 'A three'),
	('a0000000-0000-0000-0000-000000000002', 'e1000000-0000-0000-0000-0000000000b1', 999, 'B secret invoice'),
	('a0000000-0000-0000-0000-000000000002', 'e1000000-0000-0000-0000-0000000000b2', 999, 'B secret invoice too');
INSERT INTO billium.products (merchant_id, id, name, price) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'A widget', 10),
	('a0000000-0000-0000-0000-000000000002', 'e2000000-0000-0000-0000-0000000000b1', 'B secret product', 999);
INSERT INTO billium.customers (merchant_id, id, name, email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e3000000-0000-0000-0000-0000000000a1', 'A alice', 'alice@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'e3000000-0000-0000-0000-0000000000b1', 'B secret customer', 'carol@secret.test');
INSERT INTO billium.webhooks (merchant_id, id, url) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e4000000-0000-0000-0000-0000000000a1', 'https://a.test/one'),
	('a0000000-0000-0000-0000-000000000002', 'e4000000-0000-0000-0000-0000000000b1', 'https://secret.test/hook');
INSERT INTO billium.wallets (merchant_id, id, address) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e5000000-0000-0000-0000-0000000000a1', 'A-wallet'),
	('a0000000-0000-0000-0000-000000000002', 'e5000000-0000-0000-0000-0000000000b1', 'B-secret-wallet');
INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES
	('a0000000-0000-0000-0000-000000000001', '{"theme": "a"}'),
	('a0000000-0000-0000-0000-000000000002', '{"theme": "secret"}');
INSERT INTO billium.merchant_billing (merchant_id, billing_email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'billing@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'billing@secret.test');

-- B's data, as a pattern: its merchant id, the ids of its rows and users, and "secret".
CREATE FUNCTION pg_temp.b_pattern() RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT 'secret|a0000000-0000-0000-0000-000000000002|e[1-5]000000-0000-0000-0000-0000000000b[12]'
		   '|b0000000-0000-0000-0000-00000000000[67]'
$$;

CREATE ROLE tap_leaks_app LOGIN;
GRANT billium_api, billium_admin TO tap_leaks_app;

SET LOCAL ROLE tap_leaks_app;
SET LOCAL search_path = public, billium;
-- pg_temp.leak raises a NOTICE for every value, as f_leak does; keep pg_prove's output short.
SET LOCAL client_min_messages = warning;

-- Keys, minted by each merchant's OWNER: every permission on A and on B, and A's public key.
CREATE TEMP TABLE keys (label text PRIMARY KEY, api_key text);
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A');
INSERT INTO keys SELECT 'sk A', api_key FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'A all');
INSERT INTO keys SELECT 'pk A', api_key FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'pk',
	'{invoice:create,invoice:view,product:view}', 'A public');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000006')).user_id,
	'b0000000-0000-0000-0000-000000000006'::uuid, 'act as the OWNER of B');
INSERT INTO keys SELECT 'sk B', api_key FROM billium_create_api_key('a0000000-0000-0000-0000-000000000002', 'sk', '{*}', 'B secret key');
-- Key usage of every key, as the usage worker writes it (as the superuser).
RESET ROLE;
INSERT INTO billium.key_usage (key_id, merchant_id, last_used_at, request_count)
	SELECT k.id, k.merchant_id, '2026-01-01 00:00:00+00', 7 FROM billium.api_keys k;
SET LOCAL ROLE tap_leaks_app;

-- The pk key of A creates an invoice, the one row of A's invoices it may see.
DO $$ BEGIN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE label = 'pk A')); END $$;
INSERT INTO billium.invoices (merchant_id, product_id, description) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'A by pk');

CREATE FUNCTION pg_temp.become(label text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CASE label
	WHEN 'OWNER of A' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000001');
	WHEN 'VIEWER of A' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000004');
	WHEN 'OWNER of B' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000006');
	WHEN 'sk key of A' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'sk A'));
	WHEN 'pk key of A' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'pk A'));
	WHEN 'sk key of B' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'sk B'));
	WHEN 'create-only key of A' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'create-only A'));
	WHEN 'nobody' THEN
		PERFORM set_config('billium.api_key', '', true);
		IF (billium_current_principal()).kind IS NOT NULL THEN
			RAISE EXCEPTION 'test harness: could not clear the principal';
		END IF;
	END CASE;
END
$$;

------------------------------------------------------------------------------------------------
-- 1. The leaky function, as in PostgreSQL's rowsecurity.sql (f_leak), made by the ordinary role.
------------------------------------------------------------------------------------------------

CREATE TEMP TABLE leaked (v text);
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean COST 0.0000001 LANGUAGE plpgsql AS $$
BEGIN
	RAISE NOTICE 'leak %', $1;
	INSERT INTO pg_temp.leaked VALUES ($1::text);
	RETURN true;
END
$$;
-- A second condition that is never true, so UPDATE and DELETE change nothing (and need no undo,
-- which would also undo what pg_temp.leak recorded) but still scan, and leak, what they may.
CREATE FUNCTION pg_temp.never(text) RETURNS boolean COST 1000 LANGUAGE plpgsql AS $$
BEGIN
	RETURN false;
END
$$;

-- Every protected relation: the tables of schema billium with row-level security, and the view.
CREATE TEMP TABLE protected (ord int PRIMARY KEY, rel text);
INSERT INTO protected VALUES
	(1, 'merchants'), (2, 'users'), (3, 'team_members'), (4, 'api_keys'), (5, 'invoices'),
	(6, 'products'), (7, 'customers'), (8, 'webhooks'), (9, 'checkout_settings'), (10, 'wallets'),
	(11, 'merchant_billing'), (12, 'audit_log'), (13, 'reports'), (14, 'key_usage');

SELECT set_eq(
	$$SELECT rel FROM protected WHERE rel <> 'reports'$$,
	$$SELECT c.relname::text FROM pg_class c
	  WHERE c.relnamespace = 'billium'::regnamespace AND c.relkind IN ('r', 'p') AND c.relrowsecurity$$,
	'the probes cover every table of schema billium under row-level security');

-- The row of a relation as the ordinary role may read it: the relation itself, or for a table
-- with columns it may not read (api_keys.key_hash) a subquery of the others, which the planner
-- pulls up into the same scan.
CREATE FUNCTION pg_temp.readable(rel text) RETURNS text LANGUAGE sql STABLE AS $$
	SELECT CASE WHEN bool_and(has_column_privilege(a.attrelid, a.attnum, 'SELECT'))
				THEN format('billium.%I', rel)
				ELSE format('(SELECT %s FROM billium.%I)',
							string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum)
								FILTER (WHERE has_column_privilege(a.attrelid, a.attnum, 'SELECT')), rel) END
	FROM pg_attribute a
	WHERE a.attrelid = format('billium.%I', rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped
$$;

-- One probe: as the principal, run the leaky query, then compare what pg_temp.leak saw with what
-- the principal may see.  'ok' when leak saw exactly the visible rows (values) and none of B's;
-- otherwise what went wrong.
--   row:      SELECT count(*) FROM rel t WHERE pg_temp.leak(t::text)
--   columns:  the same with pg_temp.leak(t.col::text), for each readable column
--   update:   UPDATE rel t SET col = col WHERE pg_temp.leak(t::text) AND pg_temp.never(...)
--   delete:   DELETE FROM rel t WHERE pg_temp.leak(t::text) AND pg_temp.never(...)
CREATE FUNCTION pg_temp.leak_probe(who text, rel text, mode text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	src text := pg_temp.readable(rel);
	col record;
	setcol text;
	extra bigint; missing bigint; b_rows bigint; seen bigint;
	problems text := '';
BEGIN
	PERFORM pg_temp.become(who);
	IF mode IN ('update', 'delete') THEN
		IF NOT has_table_privilege(format('billium.%I', rel), upper(mode))
		   AND NOT (mode = 'update' AND has_any_column_privilege(format('billium.%I', rel), 'UPDATE')) THEN
			RETURN 'no privilege';
		END IF;
		IF src NOT LIKE 'billium.%' THEN
			RETURN 'no privilege';	-- not every column readable: UPDATE/DELETE ... t::text is refused
		END IF;
	END IF;

	FOR col IN
		SELECT CASE WHEN mode = 'columns' THEN format('t.%I', a.attname) ELSE 't' END AS expr
		FROM pg_attribute a
		WHERE a.attrelid = format('billium.%I', rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped
		  AND has_column_privilege(a.attrelid, a.attnum, 'SELECT')
		  AND (mode = 'columns' OR a.attnum = (SELECT min(attnum) FROM pg_attribute
											   WHERE attrelid = a.attrelid AND attnum > 0 AND NOT attisdropped))
		ORDER BY a.attnum
	LOOP
		TRUNCATE pg_temp.leaked;
		IF mode = 'update' THEN
			SELECT format('%I = t.%I', a.attname, a.attname) INTO setcol FROM pg_attribute a
			WHERE a.attrelid = format('billium.%I', rel)::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND has_column_privilege(a.attrelid, a.attnum, 'UPDATE')
			ORDER BY a.attnum LIMIT 1;
			EXECUTE format('UPDATE billium.%I t SET %s WHERE pg_temp.leak(t::text) AND pg_temp.never(t::text)', rel, setcol);
		ELSIF mode = 'delete' THEN
			EXECUTE format('DELETE FROM billium.%I t WHERE pg_temp.leak(t::text) AND pg_temp.never(t::text)', rel);
		ELSE
			EXECUTE format('SELECT count(*) FROM %s t WHERE pg_temp.leak((%s)::text)', src, col.expr);
		END IF;
		-- What the principal may see, asked without the leaky function.
		EXECUTE format('SELECT count(*) FROM (SELECT v FROM pg_temp.leaked EXCEPT ALL SELECT (%2$s)::text FROM %1$s t) x', src, col.expr)
			INTO extra;
		EXECUTE format('SELECT count(*) FROM (SELECT (%2$s)::text FROM %1$s t EXCEPT ALL SELECT v FROM pg_temp.leaked) x', src, col.expr)
			INTO missing;
		SELECT count(*) FILTER (WHERE v ~ pg_temp.b_pattern()), count(*) INTO b_rows, seen FROM pg_temp.leaked;
		-- UPDATE and DELETE scan only the rows their own policy admits, a subset of the visible.
		IF mode IN ('update', 'delete') THEN
			missing := 0;
		END IF;
		IF extra > 0 OR missing > 0 OR b_rows > 0 THEN
			problems := problems || format(' [%s: %s values not visible, %s visible not seen, %s of B: %s]',
				col.expr, extra, missing, b_rows,
				(SELECT string_agg(left(v, 80), ' | ') FROM (SELECT v FROM pg_temp.leaked WHERE v ~ pg_temp.b_pattern() LIMIT 3) s));
		END IF;
	END LOOP;
	RETURN CASE WHEN problems = '' THEN 'ok' ELSE 'leaked:' || problems END;
END
$$;

CREATE TEMP TABLE principals (ord int PRIMARY KEY, who text);
INSERT INTO principals VALUES (1, 'OWNER of A'), (2, 'VIEWER of A'), (3, 'sk key of A'), (4, 'pk key of A'), (5, 'nobody');

-- Not vacuous: the leaky function does run, and sees what A's OWNER may see of every relation
-- (users: the OWNER's team; reports: A's groups).
CREATE FUNCTION pg_temp.leak_seen(who text, rel text) RETURNS bigint LANGUAGE plpgsql AS $$
BEGIN
	IF pg_temp.leak_probe(who, rel, 'row') <> 'ok' THEN
		RETURN -1;
	END IF;
	RETURN (SELECT count(*) FROM pg_temp.leaked);
END
$$;
SELECT is(
	(SELECT string_agg(p.rel, ' ' ORDER BY p.ord) FROM protected p WHERE pg_temp.leak_seen('OWNER of A', p.rel) > 0),
	'merchants users team_members api_keys invoices products customers webhooks checkout_settings wallets merchant_billing audit_log reports key_usage',
	'the leaky function is called, on A''s rows, for every relation queried by A''s OWNER');

-- 14 relations x 5 principals, whole rows.
SELECT is(pg_temp.leak_probe(w.who, p.rel, 'row'), 'ok',
		  format('%s: a cheap leaky function on whole rows of %s sees only the rows it may see, none of B''s', w.who, p.rel))
FROM principals w CROSS JOIN protected p ORDER BY w.ord, p.ord;

-- 14 x 5, column by column.
SELECT is(pg_temp.leak_probe(w.who, p.rel, 'columns'), 'ok',
		  format('%s: a cheap leaky function on each column of %s sees only visible values, none of B''s', w.who, p.rel))
FROM principals w CROSS JOIN protected p ORDER BY w.ord, p.ord;

-- UPDATE and DELETE: 5 principals x 2, every table the role may write.
SELECT is(
	(SELECT coalesce(string_agg(p.rel || ' ' || r.res, '; ' ORDER BY p.ord), '')
	 FROM protected p, LATERAL (SELECT pg_temp.leak_probe(w.who, p.rel, c.cmd) AS res) r
	 WHERE p.rel <> 'reports' AND r.res NOT IN ('ok', 'no privilege')),
	'',
	format('%s: a cheap leaky function in the WHERE clause of %s on every writable table sees none of B''s rows', w.who, upper(c.cmd)))
FROM principals w CROSS JOIN (VALUES (1, 'update'), (2, 'delete')) AS c(o, cmd) ORDER BY w.ord, c.o;

------------------------------------------------------------------------------------------------
-- 2. Unique and foreign-key violations reveal nothing of B.  Each statement runs in an undone
-- subtransaction; its outcome is the SQLSTATE and the error text with every id written <id>, so
-- that naming B and naming nothing that exists can be compared, plus whether the text shows B.
------------------------------------------------------------------------------------------------

CREATE FUNCTION pg_temp.outcome(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	st text; msg text; det text; hnt text; n bigint;
BEGIN
	BEGIN
		EXECUTE sql INTO n;
		RAISE EXCEPTION USING ERRCODE = 'LK000', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
								hnt = PG_EXCEPTION_HINT;
	END;
	IF st = 'LK000' THEN
		RETURN format('ok rows=%s', n);
	END IF;
	RETURN regexp_replace(format('%s %s | %s | %s', st, msg, det, hnt),
						  '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g')
		   || CASE WHEN concat_ws(' ', msg, det, hnt) ~ 'secret' THEN ' SHOWS B' ELSE '' END;
END
$$;

CREATE FUNCTION pg_temp.outcome_as(who text, sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM pg_temp.become(who);
	RETURN pg_temp.outcome(sql);
END
$$;

-- The domain tables with a foreign key to merchants, and the columns of a minimal row.
CREATE TEMP TABLE fk_tables (ord int PRIMARY KEY, tbl text, cols text, vals text);
INSERT INTO fk_tables VALUES
	(1, 'invoices', ', amount', ', 1'), (2, 'products', ', name', ', ''x'''), (3, 'customers', ', name', ', ''x'''),
	(4, 'webhooks', ', url', ', ''https://x.test'''), (5, 'wallets', ', address', ', ''x'''),
	(6, 'checkout_settings', '', ''), (7, 'merchant_billing', '', '');

DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
-- 7 tables x 2 principals.
SELECT is(
	pg_temp.outcome_as(w.who, format('WITH x AS (INSERT INTO billium.%I (merchant_id%s) VALUES (%L%s) RETURNING 1) SELECT count(*) FROM x',
						   f.tbl, f.cols, 'a0000000-0000-0000-0000-000000000002', f.vals)),
	pg_temp.outcome_as(w.who, format('WITH x AS (INSERT INTO billium.%I (merchant_id%s) VALUES (%L%s) RETURNING 1) SELECT count(*) FROM x',
						   f.tbl, f.cols, 'a0000000-0000-0000-0000-0000000000ff', f.vals)),
	format('%s: as %s, a row for B fails exactly like a row for a merchant that does not exist (row-level security before the foreign key)',
		   f.tbl, w.who))
FROM fk_tables f CROSS JOIN (VALUES (1, 'OWNER of A'), (2, 'sk key of A')) AS w(o, who)
ORDER BY w.o, f.ord;

DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
SELECT is(
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000004', 'VIEWER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-0000000000ff', 'b0000000-0000-0000-0000-000000000004', 'VIEWER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	'team_members: inviting onto B''s team fails exactly like inviting onto a merchant that does not exist');
SELECT is(
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-0000000000ff', 'b0000000-0000-0000-0000-0000000000ff', 'OWNER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	'team_members: a row colliding with B''s OWNER (its one-OWNER index and primary key) fails like one naming nothing');
SELECT unalike(
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-0000000000ff', 'VIEWER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	'%SHOWS B%', 'team_members: the foreign-key violation for an unknown user shows nothing of B');
SELECT alike(
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.team_members (merchant_id, user_id, role)
					  VALUES ('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000004', 'VIEWER') RETURNING 1)
					  SELECT count(*) FROM x$$),
	'23505 %', 'team_members: a unique violation on A''s own member is reported (A''s own data)');
SELECT unalike(
	pg_temp.outcome($$WITH x AS (INSERT INTO billium.invoices (merchant_id, id, amount)
					  VALUES ('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000b1', 1) RETURNING 1)
					  SELECT count(*) FROM x$$),
	'%SHOWS B%', 'invoices: the unique violation on B''s invoice id shows nothing of B but the id given');
SELECT is(
	pg_temp.outcome($$WITH x AS (UPDATE billium.invoices SET merchant_id = 'a0000000-0000-0000-0000-000000000002'
					  WHERE id = 'e1000000-0000-0000-0000-0000000000a1' RETURNING 1) SELECT count(*) FROM x$$),
	pg_temp.outcome($$WITH x AS (UPDATE billium.invoices SET merchant_id = 'a0000000-0000-0000-0000-0000000000ff'
					  WHERE id = 'e1000000-0000-0000-0000-0000000000a1' RETURNING 1) SELECT count(*) FROM x$$),
	'invoices: moving A''s invoice to B fails exactly like moving it to a merchant that does not exist');

------------------------------------------------------------------------------------------------
-- 3. Plans reused across principals on one connection.  Policies ask the principal in an
-- InitPlan at each execution, so a cached generic plan still filters for whoever runs it.
-- A sees 4 invoices (3 + the pk key's), B 2.
------------------------------------------------------------------------------------------------

PREPARE leaks_count AS SELECT count(*) FROM billium.invoices;
PREPARE leaks_by_merchant(uuid) AS SELECT count(*) FROM billium.invoices WHERE merchant_id = $1;
PREPARE leaks_rows AS SELECT description FROM billium.invoices ORDER BY description;

DO $$ BEGIN PERFORM pg_temp.become('sk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (4::bigint)', format('sk key of A: prepared count, execution %s', n))
FROM generate_series(1, 6) n;
SELECT results_eq(format('EXECUTE leaks_by_merchant(%L)', m), format('VALUES (%s::bigint)', c),
				  format('sk key of A: prepared count for merchant %s, execution %s', m, n))
FROM generate_series(1, 3) n,
	 (VALUES ('a0000000-0000-0000-0000-000000000001', 4), ('a0000000-0000-0000-0000-000000000002', 0)) AS x(m, c);
SELECT results_eq('EXECUTE leaks_rows', $$VALUES ('A by pk'), ('A one'), ('A three'), ('A two')$$, 'sk key of A: prepared rows');
SELECT ok((SELECT generic_plans > 0 FROM pg_prepared_statements WHERE name = 'leaks_count'),
		  'the count statement runs a cached generic plan');

DO $$ BEGIN PERFORM pg_temp.become('sk key of B'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (2::bigint)', 'then sk key of B, same connection: the same plan counts B''s invoices only');
SELECT results_eq('EXECUTE leaks_by_merchant(''a0000000-0000-0000-0000-000000000001'')', 'VALUES (0::bigint)',
				  'sk key of B: the parameterized statement finds none of A''s');
SELECT results_eq('EXECUTE leaks_by_merchant(''a0000000-0000-0000-0000-000000000002'')', 'VALUES (2::bigint)',
				  'sk key of B: and B''s own');
SELECT results_eq('EXECUTE leaks_rows', $$VALUES ('B secret invoice'), ('B secret invoice too')$$, 'sk key of B: prepared rows are B''s');
SELECT ok((SELECT generic_plans > 1 FROM pg_prepared_statements WHERE name = 'leaks_count'),
		  'and that was the same cached generic plan');

-- Forced generic plans, dashboard sessions, and a key given by the setting rather than the call.
SET LOCAL plan_cache_mode = force_generic_plan;
PREPARE leaks_generic(uuid) AS SELECT count(*) FROM billium.invoices WHERE merchant_id = $1;
DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
SELECT results_eq(format('EXECUTE leaks_generic(%L)', m), format('VALUES (%s::bigint)', c),
				  format('OWNER of A, generic plan: count for merchant %s', m))
FROM (VALUES ('a0000000-0000-0000-0000-000000000001', 4), ('a0000000-0000-0000-0000-000000000002', 0)) AS x(m, c);
DO $$ BEGIN PERFORM pg_temp.become('OWNER of B'); END $$;
SELECT results_eq(format('EXECUTE leaks_generic(%L)', m), format('VALUES (%s::bigint)', c),
				  format('then OWNER of B, the same generic plan: count for merchant %s', m))
FROM (VALUES ('a0000000-0000-0000-0000-000000000001', 0), ('a0000000-0000-0000-0000-000000000002', 2)) AS x(m, c);
SELECT results_eq('EXECUTE leaks_count', 'VALUES (2::bigint)', 'OWNER of B: the unparameterized plan counts B''s only');
DO $$ BEGIN PERFORM set_config('billium.api_key', (SELECT api_key FROM keys WHERE label = 'sk A'), true); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (4::bigint)', 'then SET billium.api_key to A''s key: the plan counts A''s only');
SELECT results_eq('EXECUTE leaks_generic(''a0000000-0000-0000-0000-000000000002'')', 'VALUES (0::bigint)',
				  'and finds none of B''s');
DO $$ BEGIN PERFORM pg_temp.become('pk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_rows', $$VALUES ('A by pk')$$, 'then A''s pk key: the plan returns only the invoice it created');
DO $$ BEGIN PERFORM pg_temp.become('nobody'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (0::bigint)', 'then nobody: the plan counts nothing');

-- The reports view, prepared: its security barrier and its filter also run per execution.
PREPARE leaks_reports AS SELECT count(*), sum(sum) FROM billium.reports;
DO $$ BEGIN PERFORM pg_temp.become('sk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_reports', 'VALUES (1::bigint, 610::numeric)', format('sk key of A: prepared reports, execution %s', n))
FROM generate_series(1, 6) n;
DO $$ BEGIN PERFORM pg_temp.become('sk key of B'); END $$;
SELECT results_eq('EXECUTE leaks_reports', 'VALUES (1::bigint, 1998::numeric)', 'then sk key of B: B''s report only');

-- One generic plan across the cases of the invoice view policy (issue 15).  A caller that sees
-- every row of its merchants skips the rest of the policy on a boolean computed per execution,
-- never at plan time: after it, the same plan still keeps a create-only key to the row its own
-- INSERT ... RETURNING checks and a pk key to the rows it created, in its own merchant only.
DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
INSERT INTO keys SELECT 'create-only A', api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{invoice:create}', 'A create only');
PREPARE leaks_create(text) AS INSERT INTO billium.invoices (merchant_id, amount, description)
	VALUES ('a0000000-0000-0000-0000-000000000001', 5, $1) RETURNING description;
DO $$ BEGIN PERFORM pg_temp.become('sk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (4::bigint)', 'sk key of A, generic plan: A''s 4 invoices');
DO $$ BEGIN PERFORM pg_temp.become('create-only key of A'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (0::bigint)', 'then A''s create-only key, the same plan: no stored invoice');
SELECT results_eq('EXECUTE leaks_create(''A by create-only'')', $$VALUES ('A by create-only')$$,
				  'create-only key of A: its INSERT ... RETURNING gets its row back');
SELECT results_eq('EXECUTE leaks_rows', 'SELECT NULL::text WHERE false', 'create-only key of A: and then sees no row, that one included');
DO $$ BEGIN PERFORM pg_temp.become('pk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_rows', $$VALUES ('A by pk')$$, 'then A''s pk key, the same plan: only the invoice it created');
DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
SELECT results_eq('EXECUTE leaks_count', 'VALUES (5::bigint)', 'then the OWNER of A, the same plan: all 5, the create-only key''s included');
-- A row of B naming A's pk key as its creator, written past the policies: B's, never the key's.
RESET ROLE;
UPDATE billium.invoices SET created_by_key = (SELECT id FROM billium.api_keys WHERE name = 'A public')
WHERE id = 'e1000000-0000-0000-0000-0000000000b2';
SET LOCAL ROLE tap_leaks_app;
DO $$ BEGIN PERFORM pg_temp.become('pk key of A'); END $$;
SELECT results_eq('EXECUTE leaks_rows', $$VALUES ('A by pk')$$,
				  'pk key of A: a row of B naming it as creator stays out of its rows');
SELECT ok((SELECT generic_plans > 1 FROM pg_prepared_statements WHERE name = 'leaks_rows'),
		  'and every one of those ran the cached generic plan');

DEALLOCATE ALL;
SELECT * FROM finish();
ROLLBACK;
