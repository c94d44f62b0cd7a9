-- Cross-merchant isolation under row-level security (issue 4): a principal of merchant A never
-- sees, changes or infers the rows of merchant B, whether by id, through RETURNING, through
-- INSERT ... ON CONFLICT on B's row, by moving its own rows into B, through foreign keys, through
-- error messages (a unique violation on B's id must not show B's data), or through a WHERE
-- clause that would fail on B's rows if it were evaluated before the policy.
--
-- Each probe runs in a subtransaction that is undone; its outcome string carries 'ok' or the
-- SQLSTATE ('42501 rls' for "new row violates row-level security policy"), the rows the
-- statement returned, whether B's rows changed (superuser checksum) and whether the error text
-- (message, detail, hint) contains any of B's values.
BEGIN;
DO $$ BEGIN IF (SELECT extversion FROM pg_extension WHERE extname='billium') < '0.3.0' THEN ALTER EXTENSION billium UPDATE TO '0.3.0'; END IF; END $$;
SELECT plan(179);

------------------------------------------------------------------------------------------------
-- Fixtures, as the superuser.  A ...001 and B ...002, each with its OWNER; B has a MEMBER; one
-- user is ADMIN of A and VIEWER of B.  A holds two rows in each multi-row table, B one; one row
-- each in the 1:1 tables.  Every value of B's that is not an id says "secret" or is 999.
------------------------------------------------------------------------------------------------

INSERT INTO billium.merchants (id, name) VALUES
	('a0000000-0000-0000-0000-000000000001', 'rls cross A'),
	('a0000000-0000-0000-0000-000000000002', 'rls cross B secret');
INSERT INTO billium.users (id, email) VALUES
	('b0000000-0000-0000-0000-000000000001', 'owner-a@rls-cross.test'),
	('b0000000-0000-0000-0000-000000000006', 'owner-b-secret@rls-cross.test'),
	('b0000000-0000-0000-0000-000000000007', 'member-b-secret@rls-cross.test'),
	('b0000000-0000-0000-0000-000000000008', 'both@rls-cross.test');
INSERT INTO billium.team_members (merchant_id, user_id, role) VALUES
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000001', 'OWNER'),
	('a0000000-0000-0000-0000-000000000001', 'b0000000-0000-0000-0000-000000000008', 'ADMIN'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000006', 'OWNER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000007', 'MEMBER'),
	('a0000000-0000-0000-0000-000000000002', 'b0000000-0000-0000-0000-000000000008', 'VIEWER');

INSERT INTO billium.invoices (merchant_id, id, amount, description) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a1', 100, 'A one'),
	('a0000000-0000-0000-0000-000000000001', 'e1000000-0000-0000-0000-0000000000a2', 200, 'A two'),
	('a0000000-0000-0000-0000-000000000002', 'e1000000-0000-0000-0000-0000000000b1', 999, 'B secret invoice');
INSERT INTO billium.products (merchant_id, id, name, price) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a1', 'A widget', 10),
	('a0000000-0000-0000-0000-000000000001', 'e2000000-0000-0000-0000-0000000000a2', 'A gadget', 20),
	('a0000000-0000-0000-0000-000000000002', 'e2000000-0000-0000-0000-0000000000b1', 'B secret product', 999);
INSERT INTO billium.customers (merchant_id, id, name, email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e3000000-0000-0000-0000-0000000000a1', 'A alice', 'alice@a.test'),
	('a0000000-0000-0000-0000-000000000001', 'e3000000-0000-0000-0000-0000000000a2', 'A bob', 'bob@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'e3000000-0000-0000-0000-0000000000b1', 'B secret customer', 'carol@secret.test');
INSERT INTO billium.webhooks (merchant_id, id, url) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e4000000-0000-0000-0000-0000000000a1', 'https://a.test/one'),
	('a0000000-0000-0000-0000-000000000001', 'e4000000-0000-0000-0000-0000000000a2', 'https://a.test/two'),
	('a0000000-0000-0000-0000-000000000002', 'e4000000-0000-0000-0000-0000000000b1', 'https://secret.test/hook');
INSERT INTO billium.wallets (merchant_id, id, address) VALUES
	('a0000000-0000-0000-0000-000000000001', 'e5000000-0000-0000-0000-0000000000a1', 'A-wallet-one'),
	('a0000000-0000-0000-0000-000000000001', 'e5000000-0000-0000-0000-0000000000a2', 'A-wallet-two'),
	('a0000000-0000-0000-0000-000000000002', 'e5000000-0000-0000-0000-0000000000b1', 'B-secret-wallet');
INSERT INTO billium.checkout_settings (merchant_id, settings) VALUES
	('a0000000-0000-0000-0000-000000000001', '{"theme": "a"}'),
	('a0000000-0000-0000-0000-000000000002', '{"theme": "secret"}');
INSERT INTO billium.merchant_billing (merchant_id, billing_email) VALUES
	('a0000000-0000-0000-0000-000000000001', 'billing@a.test'),
	('a0000000-0000-0000-0000-000000000002', 'billing@secret.test');

CREATE FUNCTION pg_temp.rls_sum(tbl text, col text, m uuid) RETURNS text
	LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
DECLARE
	s text;
BEGIN
	EXECUTE format('SELECT md5(coalesce(string_agg(t::text, %L ORDER BY t::text), %L)) FROM billium.%I t WHERE t.%I = $1',
				   ',', '', tbl, col) INTO s USING m;
	RETURN s;
END
$$;

CREATE ROLE tap_rls_app LOGIN;
GRANT billium_api, billium_admin TO tap_rls_app;

SET LOCAL ROLE tap_rls_app;
SET LOCAL search_path = public, billium;

-- Keys: every permission, on A (made by A's OWNER) and on B (made by B's OWNER).
CREATE TEMP TABLE keys (label text PRIMARY KEY, id uuid, api_key text);
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000001')).user_id,
	'b0000000-0000-0000-0000-000000000001'::uuid, 'act as the OWNER of A');
INSERT INTO keys SELECT 'A all', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000001', 'sk', '{*}', 'A all');
SELECT is((billium_act_as('b0000000-0000-0000-0000-000000000006')).user_id,
	'b0000000-0000-0000-0000-000000000006'::uuid, 'act as the OWNER of B');
INSERT INTO keys SELECT 'B all', id, api_key
FROM billium_create_api_key('a0000000-0000-0000-0000-000000000002', 'sk', '{*}', 'B secret key');

CREATE FUNCTION pg_temp.become(label text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	CASE label
	WHEN 'OWNER of A' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000001');
	WHEN 'OWNER of B' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000006');
	WHEN 'ADMIN of A, VIEWER of B' THEN PERFORM billium_act_as('b0000000-0000-0000-0000-000000000008');
	WHEN 'sk key of A' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'A all'));
	WHEN 'sk key of B' THEN PERFORM billium_authenticate((SELECT api_key FROM keys WHERE keys.label = 'B all'));
	END CASE;
END
$$;

-- Run sql (which returns one count) as the current principal, undo it, report.
CREATE FUNCTION pg_temp.probe(tbl text, col text, sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	b0 text := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
	b1 text; n bigint := 0; st text; msg text; det text; hnt text; res text;
BEGIN
	BEGIN
		EXECUTE sql INTO n;
		b1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
		RAISE EXCEPTION USING ERRCODE = 'RLS00', MESSAGE = 'undo';
	EXCEPTION WHEN OTHERS THEN
		GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL,
								hnt = PG_EXCEPTION_HINT;
	END;
	IF st = 'RLS00' THEN
		res := 'ok';
		msg := ''; det := ''; hnt := '';
	ELSE
		res := CASE WHEN st = '42501' AND msg LIKE 'new row violates row-level security policy%' THEN '42501 rls'
					WHEN st = '42501' THEN '42501 other'
					WHEN st = '23505' THEN '23505'
					ELSE st || ' ' || msg END;
		b1 := pg_temp.rls_sum(tbl, col, 'a0000000-0000-0000-0000-000000000002');
	END IF;
	RETURN format('%s rows=%s B=%s leak=%s', res, n,
				  CASE WHEN b1 = b0 THEN 'same' ELSE 'changed' END,
				  CASE WHEN concat_ws(' ', msg, det, hnt) ~* 'secret|999|a0000000-0000-0000-0000-000000000002'
					   THEN 'yes: ' || concat_ws(' | ', msg, det, hnt) ELSE 'no' END);
END
$$;

-- B's rows and A's rows of a table, as the current principal sees them: 'B/A'.
CREATE FUNCTION pg_temp.look_b(tbl text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	a bigint; b bigint;
BEGIN
	EXECUTE format('SELECT count(*) FILTER (WHERE merchant_id = %L), count(*) FILTER (WHERE merchant_id <> %L) FROM billium.%I',
				   'a0000000-0000-0000-0000-000000000002', 'a0000000-0000-0000-0000-000000000002', tbl) INTO b, a;
	RETURN b || '/' || a;
END
$$;

------------------------------------------------------------------------------------------------
-- The probes, for every domain table, as A's OWNER (a dashboard session holding all 34
-- permissions on A) and as an sk key of A holding all 34: 7 tables x 11 probes x 2 = 154.
------------------------------------------------------------------------------------------------

-- For each table: the column that names a row (id, or merchant_id in the 1:1 tables), a column
-- and value to write, the other NOT NULL columns and values of an insert, B's row, A's count.
CREATE TEMP TABLE targets (
	ord int PRIMARY KEY, tbl text, idcol text, setcol text, setval text, cols text, vals text, b_id text, n_a int
);
INSERT INTO targets VALUES
	(1, 'invoices', 'id', 'description', 'rls: x', 'amount', '1', 'e1000000-0000-0000-0000-0000000000b1', 2),
	(2, 'products', 'id', 'name', 'rls: x', 'name', '''rls: new''', 'e2000000-0000-0000-0000-0000000000b1', 2),
	(3, 'customers', 'id', 'email', 'rls@x.test', 'name', '''rls: new''', 'e3000000-0000-0000-0000-0000000000b1', 2),
	(4, 'webhooks', 'id', 'url', 'https://rls.test/x', 'url', '''https://rls.test/new''', 'e4000000-0000-0000-0000-0000000000b1', 2),
	(5, 'wallets', 'id', 'address', 'rls-x', 'address', '''rls-new''', 'e5000000-0000-0000-0000-0000000000b1', 2),
	(6, 'checkout_settings', 'merchant_id', 'settings', '{"theme": "rls"}', NULL, NULL, 'a0000000-0000-0000-0000-000000000002', 1),
	(7, 'merchant_billing', 'merchant_id', 'billing_email', 'rls@x.test', NULL, NULL, 'a0000000-0000-0000-0000-000000000002', 1);

CREATE TEMP TABLE probes (ord int PRIMARY KEY, name text, template text);
-- Placeholders: %1$s table, %2$s id column, %3$s set column, %4$s set value (literal), %5$s B's
-- id (literal), %6$s extra insert columns (with a leading comma or empty), %7$s their values.
INSERT INTO probes VALUES
	(1, 'SELECT B''s row by id',
	 $$SELECT count(*) FROM billium.%1$I WHERE %2$I = %5$L$$),
	(2, 'UPDATE B''s row by id ... RETURNING',
	 $$WITH x AS (UPDATE billium.%1$I SET %3$I = %4$L WHERE %2$I = %5$L RETURNING *) SELECT count(*) FROM x$$),
	(3, 'UPDATE every row ... RETURNING (only A''s come back)',
	 $$WITH x AS (UPDATE billium.%1$I SET %3$I = %4$L RETURNING *) SELECT count(*) FROM x$$),
	(4, 'DELETE B''s row by id ... RETURNING',
	 $$WITH x AS (DELETE FROM billium.%1$I WHERE %2$I = %5$L RETURNING *) SELECT count(*) FROM x$$),
	(5, 'INSERT a row for B',
	 $$WITH x AS (INSERT INTO billium.%1$I (merchant_id%6$s) VALUES ('a0000000-0000-0000-0000-000000000002'%7$s) RETURNING 1) SELECT count(*) FROM x$$),
	(6, 'UPDATE own rows to move them into B',
	 $$WITH x AS (UPDATE billium.%1$I SET merchant_id = 'a0000000-0000-0000-0000-000000000002' RETURNING 1) SELECT count(*) FROM x$$),
	(7, 'INSERT a row of A with B''s id (unique violation)',
	 $$WITH x AS (INSERT INTO billium.%1$I (merchant_id, id%6$s) VALUES ('a0000000-0000-0000-0000-000000000001', %5$L%7$s) RETURNING 1) SELECT count(*) FROM x$$),
	(8, 'INSERT ... ON CONFLICT DO UPDATE on B''s row ... RETURNING',
	 $$WITH x AS (INSERT INTO billium.%1$I (merchant_id, id%6$s) VALUES ('a0000000-0000-0000-0000-000000000001', %5$L%7$s)
				  ON CONFLICT (id) DO UPDATE SET %3$I = %4$L RETURNING *) SELECT count(*) FROM x$$),
	(9, 'INSERT ... ON CONFLICT DO NOTHING on B''s row ... RETURNING',
	 $$WITH x AS (INSERT INTO billium.%1$I (merchant_id, id%6$s) VALUES ('a0000000-0000-0000-0000-000000000001', %5$L%7$s)
				  ON CONFLICT DO NOTHING RETURNING *) SELECT count(*) FROM x$$),
	(10, 'a WHERE clause that fails on B''s row is never evaluated on it',
	 $$SELECT count(*) FROM billium.%1$I WHERE 1 / (CASE WHEN merchant_id = 'a0000000-0000-0000-0000-000000000002' THEN 0 ELSE 1 END) = 1$$),
	(11, 'a lookup of B''s row by id inside a subquery of another table',
	 $$SELECT count(*) FROM billium.merchants m WHERE EXISTS (SELECT FROM billium.%1$I t WHERE t.%2$I = %5$L)$$);

-- The 1:1 tables have no id: their probes 7 to 9 name B's merchant_id instead.
CREATE FUNCTION pg_temp.probe_sql(t targets, p probes) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE WHEN t.idcol = 'merchant_id' AND p.ord IN (7, 8, 9) THEN
		format(CASE p.ord
			WHEN 7 THEN $q$WITH x AS (INSERT INTO billium.%1$I (merchant_id) VALUES (%5$L) RETURNING 1) SELECT count(*) FROM x$q$
			WHEN 8 THEN $q$WITH x AS (INSERT INTO billium.%1$I (merchant_id) VALUES (%5$L)
							ON CONFLICT (merchant_id) DO UPDATE SET %3$I = %4$L RETURNING *) SELECT count(*) FROM x$q$
			ELSE $q$WITH x AS (INSERT INTO billium.%1$I (merchant_id) VALUES (%5$L) ON CONFLICT DO NOTHING RETURNING *) SELECT count(*) FROM x$q$
			END, t.tbl, t.idcol, t.setcol, t.setval, t.b_id)
	ELSE
		format(p.template, t.tbl, t.idcol, t.setcol, t.setval, t.b_id,
			   coalesce(', ' || t.cols, ''), coalesce(', ' || t.vals, ''))
	END
$$;

-- What each probe must give.  ON CONFLICT on B's row may be refused (42501: by a policy, or
-- because a caller never chooses an id) or do nothing;
-- either way B is unchanged and nothing comes back, which the normalisation below allows.
CREATE FUNCTION pg_temp.probe_expected(t targets, p probes) RETURNS text LANGUAGE sql IMMUTABLE AS $$
	SELECT CASE p.ord
		WHEN 1 THEN 'ok rows=0 B=same leak=no'
		WHEN 2 THEN 'ok rows=0 B=same leak=no'
		WHEN 3 THEN format('ok rows=%s B=same leak=no', t.n_a)
		WHEN 4 THEN 'ok rows=0 B=same leak=no'
		WHEN 5 THEN '42501 rls rows=0 B=same leak=no'
		-- merchant_id never changes, and ids are the server's (billium_server_columns).
		WHEN 6 THEN '42501 other rows=0 B=same leak=no'
		WHEN 7 THEN CASE WHEN t.idcol = 'id' THEN '42501 other rows=0 B=same leak=no' ELSE '42501 rls rows=0 B=same leak=no' END
		WHEN 8 THEN 'refused or nothing, B=same leak=no'
		WHEN 9 THEN 'refused or nothing, B=same leak=no'
		WHEN 10 THEN format('ok rows=%s B=same leak=no', t.n_a)
		WHEN 11 THEN 'ok rows=0 B=same leak=no'
	END
$$;

CREATE FUNCTION pg_temp.run_probe(label text, t targets, p probes) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
	r text;
BEGIN
	PERFORM pg_temp.become(label);
	r := pg_temp.probe(t.tbl, t.idcol, pg_temp.probe_sql(t, p));
	IF p.ord IN (8, 9) THEN
		r := regexp_replace(r, '^(42501 rls|42501 other|ok) rows=0 B=same', 'refused or nothing, B=same');
	END IF;
	RETURN r;
END
$$;

SELECT is(pg_temp.run_probe(who.label, t, p), pg_temp.probe_expected(t, p),
		  format('%s as %s: %s', t.tbl, who.label, p.name))
FROM targets t CROSS JOIN probes p
CROSS JOIN (VALUES (1, 'OWNER of A'), (2, 'sk key of A')) AS who(o, label)
ORDER BY t.ord, who.o, p.ord;

------------------------------------------------------------------------------------------------
-- Foreign keys do not tell B's existence apart from no merchant at all; the merchants, team
-- and key functions do not reach across either.
------------------------------------------------------------------------------------------------

DO $$ BEGIN PERFORM pg_temp.become('OWNER of A'); END $$;
SELECT is(pg_temp.probe('invoices', 'merchant_id',
			$$WITH x AS (INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a0000000-0000-0000-0000-0000000000ff', 1) RETURNING 1) SELECT count(*) FROM x$$),
		  '42501 rls rows=0 B=same leak=no',
		  'an invoice for a merchant that does not exist is refused exactly like one for B (no foreign-key tell)');
SELECT is(pg_temp.probe('merchants', 'id', $$SELECT count(*) FROM billium.merchants WHERE id = 'a0000000-0000-0000-0000-000000000002'$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A does not see merchant B');
SELECT is(pg_temp.probe('merchants', 'id',
			$$WITH x AS (UPDATE billium.merchants SET name = 'rls: x', enforce_tfa = true WHERE id = 'a0000000-0000-0000-0000-000000000002' RETURNING 1) SELECT count(*) FROM x$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A renames nothing and sets no flag of B (not even an error)');
SELECT is(pg_temp.probe('merchants', 'id',
			$$WITH x AS (DELETE FROM billium.merchants WHERE id = 'a0000000-0000-0000-0000-000000000002' RETURNING 1) SELECT count(*) FROM x$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A deletes nothing of B');
SELECT is(pg_temp.probe('team_members', 'merchant_id',
			$$SELECT count(*) FROM billium.team_members WHERE merchant_id = 'a0000000-0000-0000-0000-000000000002'$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A sees nobody of B''s team');
SELECT is(pg_temp.probe('team_members', 'merchant_id',
			$$WITH x AS (UPDATE billium.team_members SET role = 'VIEWER' WHERE merchant_id = 'a0000000-0000-0000-0000-000000000002' RETURNING 1) SELECT count(*) FROM x$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A changes no role on B''s team');
SELECT is(pg_temp.probe('team_members', 'merchant_id',
			$$WITH x AS (DELETE FROM billium.team_members WHERE merchant_id = 'a0000000-0000-0000-0000-000000000002' RETURNING 1) SELECT count(*) FROM x$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A removes nobody from B''s team');
SELECT matches(pg_temp.probe('team_members', 'merchant_id',
			$$WITH x AS (UPDATE billium.team_members SET merchant_id = 'a0000000-0000-0000-0000-000000000002'
						 WHERE user_id = 'b0000000-0000-0000-0000-000000000008' RETURNING 1) SELECT count(*) FROM x$$),
		  '^42501 \S+ rows=0 B=same leak=no$', 'the OWNER of A may not move a member of its team onto B''s');
SELECT is(pg_temp.probe('api_keys', 'merchant_id',
			$$SELECT count(*) FROM billium.api_keys WHERE merchant_id = 'a0000000-0000-0000-0000-000000000002'$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A sees none of B''s keys');
SELECT matches(pg_temp.probe('api_keys', 'merchant_id',
			format('SELECT count(*) FROM billium_revoke_api_key(%L)', (SELECT id FROM keys WHERE label = 'B all'))),
		  '^(42501 \S+|P0002 [^|]*does not exist) rows=0 B=same leak=no$', 'the OWNER of A may not revoke B''s key, and the refusal shows nothing of it');
SELECT matches(pg_temp.probe('api_keys', 'merchant_id',
			format('SELECT count(*) FROM billium_explain_key(%L)', (SELECT id FROM keys WHERE label = 'B all'))),
		  '^(42501 \S+|P0002 [^|]*does not exist) rows=0 B=same leak=no$', 'the OWNER of A may not explain B''s key');
SELECT matches(pg_temp.probe('api_keys', 'merchant_id',
			format('SELECT count(*) FROM billium_update_api_key(%L, NULL, %L)', (SELECT id FROM keys WHERE label = 'B all'), 'rls: x')),
		  '^(42501 \S+|P0002 [^|]*does not exist) rows=0 B=same leak=no$', 'the OWNER of A may not rename B''s key');
SELECT is(pg_temp.probe('audit_log', 'merchant_id',
			$$SELECT count(*) FROM billium.audit_log WHERE merchant_id = 'a0000000-0000-0000-0000-000000000002'$$),
		  'ok rows=0 B=same leak=no', 'the OWNER of A reads nothing of B''s audit trail');
SELECT is(pg_temp.probe('invoices', 'merchant_id',
			$$SELECT count(*) FROM billium.reports WHERE 1 / (CASE WHEN merchant_id = 'a0000000-0000-0000-0000-000000000002' THEN 0 ELSE 1 END) = 1$$),
		  'ok rows=1 B=same leak=no', 'reports: a WHERE clause that fails on B''s rows never reaches them (security barrier)');
SELECT is(
	(SELECT regexp_replace(pg_temp.probe('api_keys', 'merchant_id',
		format('SELECT count(*) FROM billium_revoke_api_key(%L)', (SELECT id FROM keys WHERE label = 'B all'))),
		'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g')),
	(SELECT regexp_replace(pg_temp.probe('api_keys', 'merchant_id',
		$$SELECT count(*) FROM billium_revoke_api_key('c0000000-0000-0000-0000-0000000000ff')$$),
		'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g')),
	'revoking B''s key and revoking a key that does not exist fail alike (no tell that B''s key exists)');

------------------------------------------------------------------------------------------------
-- A user on both teams holds each merchant's permissions on that merchant only: ADMIN of A,
-- VIEWER of B.  And B's own key sees only B.
------------------------------------------------------------------------------------------------

DO $$ BEGIN PERFORM pg_temp.become('ADMIN of A, VIEWER of B'); END $$;
SELECT is((SELECT count(*) FROM billium.invoices), 3::bigint, 'the ADMIN of A, VIEWER of B sees A''s and B''s invoices');
SELECT is(pg_temp.probe('invoices', 'merchant_id',
			$$WITH x AS (UPDATE billium.invoices SET description = 'rls: x' RETURNING merchant_id) SELECT count(*) FROM x$$),
		  'ok rows=2 B=same leak=no', 'but its UPDATE of every invoice changes A''s two only');
SELECT is(pg_temp.probe('invoices', 'merchant_id',
			$$WITH x AS (DELETE FROM billium.invoices RETURNING 1) SELECT count(*) FROM x$$),
		  'ok rows=2 B=same leak=no', 'and its DELETE of every invoice removes A''s two only');
SELECT is(pg_temp.probe('invoices', 'merchant_id',
			$$WITH x AS (INSERT INTO billium.invoices (merchant_id, amount) VALUES ('a0000000-0000-0000-0000-000000000002', 1) RETURNING 1) SELECT count(*) FROM x$$),
		  '42501 rls rows=0 B=same leak=no', 'and it may not create an invoice on B');
SELECT is((SELECT count(DISTINCT merchant_id) FROM billium.reports), 2::bigint,
	'its reports cover A (ADMIN) and B (VIEWER): report:view on both');
SELECT is_empty($$SELECT * FROM billium.merchant_billing$$, 'it reads no billing row of either (neither role has merchant:billing)');

DO $$ BEGIN PERFORM pg_temp.become('sk key of B'); END $$;
SELECT is(
	(SELECT string_agg(format('%s:%s', t.tbl, c.n), ' ' ORDER BY t.ord)
	 FROM targets t, LATERAL (SELECT * FROM pg_temp.look_b(t.tbl)) c(n)),
	'invoices:1/0 products:1/0 customers:1/0 webhooks:1/0 wallets:1/0 checkout_settings:1/0 merchant_billing:1/0',
	'an sk key of B sees B''s row in every table (B/A) and none of A''s');
SELECT is((SELECT count(*) FROM billium.reports WHERE merchant_id <> 'a0000000-0000-0000-0000-000000000002'), 0::bigint,
	'B''s key sees no report of A');

SELECT * FROM finish();
ROLLBACK;
