-- make bench, part 3: row-level security over the 1,000,000 invoices of bench/setup.sql (1,000
-- merchants, 1,000 invoices each), run by bench/run.sh.
--
-- The same query text against three tables holding the same rows:
--   billium.invoices        billium's policies: merchant_id = ANY ((SELECT billium_merchants_listing(..))::uuid[])
--   bench.invoices          no row-level security at all (the floor)
--   bench.invoices_perrow   the usual hand-written policy: a STABLE function per row asking a team table
-- once for one merchant's invoices (an index scan, prepared as drivers send it, and planned every
-- time), once as a whole-table scan (index scans off: every row is read and filtered).  Each
-- query runs as an ordinary role whose transaction's principal is the owner of merchant 1; the
-- per-row policy is told the same user through a setting.  One core (no parallel workers), the
-- best of several runs.  The figures go into bench.results for run.sh's report.
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SELECT merchant_id AS merchant, owner_id AS owner FROM bench.tenants WHERE n = 1 \gset
SELECT api_key AS sk_key FROM bench.keys WHERE merchant_id = :'merchant' ORDER BY i LIMIT 1 \gset

SET ROLE bench_app;
BEGIN;
SELECT set_config('bench.user_id', :'owner', true) IS NOT NULL AS ok \gset
SELECT kind FROM billium.billium_act_as(:'owner') \gset
INSERT INTO bench.results
SELECT 'rls', scan, tbl,
	   bench.best_ms(format('SELECT count(*), sum(amount) FROM %s WHERE merchant_id = %L', tbl, :'merchant'),
					 runs, prepared),
	   NULL
FROM (VALUES ('one merchant (index)', 15, true),
			 ('one merchant, planned every time', 15, false)) AS s(scan, runs, prepared),
	 (VALUES ('billium.invoices'), ('bench.invoices'), ('bench.invoices_perrow')) AS t(tbl);
SET LOCAL enable_indexscan = off;
SET LOCAL enable_bitmapscan = off;
INSERT INTO bench.results
SELECT 'rls', scan, tbl,
	   bench.best_ms(format('SELECT count(*), sum(amount) FROM %s WHERE merchant_id = %L', tbl, :'merchant'), 5),
	   NULL
FROM (VALUES ('whole table (seq scan)')) AS s(scan),
	 (VALUES ('billium.invoices'), ('bench.invoices'), ('bench.invoices_perrow')) AS t(tbl);
-- What each sees with no filter of the query's own, to show the three do the same work: the
-- merchant's 1,000 invoices behind either policy, all 1,000,000 without one.
UPDATE bench.results AS r SET rows_seen = v.c FROM (
	SELECT 'billium.invoices' AS tbl, count(*) AS c FROM billium.invoices
	UNION ALL SELECT 'bench.invoices', count(*) FROM bench.invoices
	UNION ALL SELECT 'bench.invoices_perrow', count(*) FROM bench.invoices_perrow) AS v
WHERE r.part = 'rls' AND v.tbl = r.variant;
COMMIT;
-- RLS at the floor (issue 15): the same one-merchant query with an sk key of merchant 1 as the
-- transaction's principal (what an API request is), billium's policies against no RLS.  The
-- two tables alternate, run after run, and each keeps its best, so a slow patch of the machine
-- hits both alike.
BEGIN;
SELECT merchant_id IS NOT NULL AS ok FROM billium.billium_authenticate(:'sk_key') \gset
SELECT set_config('bench.merchant', :'merchant', true) IS NOT NULL AS ok \gset
DO $$
DECLARE
	q text := format('SELECT count(*), sum(amount) FROM %%s WHERE merchant_id = %L', current_setting('bench.merchant'));
	best numeric[] := '{Infinity,Infinity}';
	tables text[] := '{billium.invoices,bench.invoices}';
BEGIN
	FOR r IN 1..5 LOOP
		FOR t IN 1..2 LOOP
			best[t] := least(best[t], bench.best_ms(format(q, tables[t]), 5));
		END LOOP;
	END LOOP;
	INSERT INTO bench.results
	SELECT 'rls', 'one merchant, sk key (index)', tables[t], best[t], NULL FROM generate_series(1, 2) AS t;
END
$$;
COMMIT;
RESET ROLE;
