-- make bench, part 2: row-level security over 1,000,000 invoices across 1,000 merchants.
--
-- The same query text against three tables holding the same rows:
--   billium.invoices      billium's policies: merchant_id = ANY ((SELECT billium_merchants_with(..))::uuid[])
--   rlsb.invoices_open    no row-level security at all (the floor)
--   rlsb.invoices_perrow  the usual hand-written policy: a STABLE function per row asking a team table
-- once for one merchant's invoices (an index scan), once as a whole-table scan (index scans off).
-- Each query runs as an ordinary role whose transaction's principal is the merchant's owner.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DO $$ BEGIN
	IF (SELECT extversion FROM pg_extension WHERE extname = 'billium') <> '0.3.0' THEN
		ALTER EXTENSION billium UPDATE TO '0.3.0';
	END IF;
END $$;

CREATE SCHEMA rlsb;
INSERT INTO billium.merchants (id, name)
	SELECT ('00000000-0000-0000-0000-' || lpad(g::text, 12, '0'))::uuid, 'merchant ' || g
	FROM generate_series(1, 1000) g;
INSERT INTO billium.users (id, email) VALUES ('10000000-0000-0000-0000-000000000001', 'owner@rls.bench');
INSERT INTO billium.team_members (merchant_id, user_id, role)
	VALUES ('00000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000001', 'OWNER');
ALTER TABLE billium.invoices DISABLE TRIGGER USER;   -- the bulk load needs no creator
INSERT INTO billium.invoices (merchant_id, amount)
	SELECT ('00000000-0000-0000-0000-' || lpad((1 + g % 1000)::text, 12, '0'))::uuid, g % 10000
	FROM generate_series(1, 1000000) g;
ALTER TABLE billium.invoices ENABLE TRIGGER USER;

CREATE TABLE rlsb.invoices_open AS SELECT * FROM billium.invoices;
ALTER TABLE rlsb.invoices_open ADD PRIMARY KEY (merchant_id, id);
CREATE TABLE rlsb.invoices_perrow AS SELECT * FROM billium.invoices;
ALTER TABLE rlsb.invoices_perrow ADD PRIMARY KEY (merchant_id, id);

-- The usual way: a team table with text[] permissions and a function the policy calls per row.
CREATE TABLE rlsb.team (merchant_id uuid, user_id uuid, permissions text[], PRIMARY KEY (merchant_id, user_id));
INSERT INTO rlsb.team VALUES ('00000000-0000-0000-0000-000000000001', '10000000-0000-0000-0000-000000000001',
	billium.billium_permset_names(billium.billium_role_cap('OWNER')));
CREATE FUNCTION rlsb.may_view(m uuid) RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
	RETURN EXISTS (SELECT 1 FROM rlsb.team t
				   WHERE t.merchant_id = m AND t.user_id = current_setting('rlsb.user_id')::uuid
					 AND 'invoice:view' = ANY (t.permissions));
END $$;
ALTER TABLE rlsb.invoices_perrow ENABLE ROW LEVEL SECURITY;
CREATE POLICY perrow_view ON rlsb.invoices_perrow FOR SELECT USING (rlsb.may_view(merchant_id));

CREATE ROLE rls_bench_app LOGIN;
GRANT billium_api, billium_admin TO rls_bench_app;
GRANT USAGE ON SCHEMA rlsb TO rls_bench_app;
GRANT SELECT ON ALL TABLES IN SCHEMA rlsb TO rls_bench_app;
VACUUM ANALYZE;

-- Best of `runs` executions of a query, in ms, as the calling role: prepared once and executed
-- (as a driver with prepared statements does; the plan is made per execution or reused, as the
-- server decides), or planned anew every time.
CREATE FUNCTION rlsb.best_ms(query text, runs int, prepared boolean DEFAULT true) RETURNS numeric
	LANGUAGE plpgsql AS $$
DECLARE
	best numeric := 'Infinity';
	started timestamptz;
BEGIN
	IF prepared THEN
		EXECUTE 'PREPARE rlsb_q AS ' || query;
	END IF;
	FOR i IN 1..runs LOOP
		started := clock_timestamp();
		IF prepared THEN
			EXECUTE 'EXECUTE rlsb_q';
		ELSE
			EXECUTE query;
		END IF;
		best := least(best, extract(epoch FROM clock_timestamp() - started) * 1000);
	END LOOP;
	IF prepared THEN
		DEALLOCATE rlsb_q;
	END IF;
	RETURN round(best, 3);
END $$;
GRANT EXECUTE ON FUNCTION rlsb.best_ms(text, int, boolean) TO rls_bench_app;

CREATE TEMP TABLE results (scan text, tbl text, ms numeric, rows_seen bigint);
GRANT ALL ON results TO rls_bench_app;
SET ROLE rls_bench_app;
BEGIN;
SELECT set_config('rlsb.user_id', '10000000-0000-0000-0000-000000000001', true) IS NOT NULL AS ok \gset
SELECT kind FROM billium.billium_act_as('10000000-0000-0000-0000-000000000001') \gset
INSERT INTO results
SELECT scan, tbl,
	   rlsb.best_ms(format('SELECT count(*), sum(amount) FROM %s WHERE merchant_id = %L', tbl,
						   '00000000-0000-0000-0000-000000000001'), 7),
	   NULL
FROM (VALUES ('one merchant (index)')) s(scan),
	 (VALUES ('billium.invoices'), ('rlsb.invoices_open'), ('rlsb.invoices_perrow')) t(tbl);
INSERT INTO results
SELECT scan, tbl,
	   rlsb.best_ms(format('SELECT count(*), sum(amount) FROM %s WHERE merchant_id = %L', tbl,
						   '00000000-0000-0000-0000-000000000001'), 7, false),
	   NULL
FROM (VALUES ('one merchant, planned every time')) s(scan),
	 (VALUES ('billium.invoices'), ('rlsb.invoices_open'), ('rlsb.invoices_perrow')) t(tbl);
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
INSERT INTO results
SELECT scan, tbl,
	   rlsb.best_ms(format('SELECT count(*), sum(amount) FROM %s WHERE merchant_id = %L', tbl,
						   '00000000-0000-0000-0000-000000000001'), 3),
	   NULL
FROM (VALUES ('whole table (seq scan)')) s(scan),
	 (VALUES ('billium.invoices'), ('rlsb.invoices_open'), ('rlsb.invoices_perrow')) t(tbl);
-- What each sees, to show the three do the same work.
UPDATE results r SET rows_seen = c FROM (
	SELECT 'billium.invoices' tbl, count(*) c FROM billium.invoices
	UNION ALL SELECT 'rlsb.invoices_open', count(*) FROM rlsb.invoices_open WHERE merchant_id = '00000000-0000-0000-0000-000000000001'
	UNION ALL SELECT 'rlsb.invoices_perrow', count(*) FROM rlsb.invoices_perrow) v WHERE v.tbl = r.tbl;
COMMIT;
RESET ROLE;

\pset footer off
\echo
\echo 'row-level security: 1,000,000 invoices, 1,000 merchants; the principal owns one merchant (1,000 rows)'
SELECT r.scan, round(o.ms, 3) AS "no RLS (ms)", round(r.ms, 3) AS "billium RLS (ms)",
	   round(p.ms, 3) AS "per-row policy (ms)",
	   round(r.ms / o.ms, 2) AS "billium / no RLS", round(p.ms / r.ms, 1) AS "per-row / billium",
	   CASE WHEN r.ms <= o.ms * 1.10 THEN 'met' ELSE 'not met' END AS "goal: within 10%"
FROM results r
JOIN results o ON o.scan = r.scan AND o.tbl = 'rlsb.invoices_open'
JOIN results p ON p.scan = r.scan AND p.tbl = 'rlsb.invoices_perrow'
WHERE r.tbl = 'billium.invoices' ORDER BY r.scan;
SELECT DISTINCT tbl, rows_seen FROM results ORDER BY 1;
