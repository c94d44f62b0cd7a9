-- Row-level security at the floor (issue 15): one merchant's invoices through billium's policies
-- against the same rows with no policy at all (bench.invoices), for each kind of principal:
--   sk       an sk key of merchant 1 (bench.keys), which sees every invoice of its merchant
--   pk       a pk key of merchant 2 holding invoice:view, which sees only the invoices it created:
--            here all 1,000 of its merchant (set below, in bench.invoices too, so both tables
--            hold the same rows on the same pages)
--   session  the owner of merchant 1, a dashboard user (billium_act_as)
-- Two queries: the merchant's rows asked by merchant_id (the query of bench/rls.sql), and the
-- listing an API serves, where the policy alone narrows the table (SELECT ... FROM invoices),
-- against the floor's merchant_id query.  Each prepared (one cached plan, executed 15 times, as
-- a driver sends it) and planned every time; every round of every principal in one transaction, billium
-- and the floor side by side, the rounds interleaved; the report keeps the best of each.
--
-- On the bench data (bench/setup.sql), e.g. a cluster kept by BILLIUM_KEEP=1 make bench:
--   psql -d billium_bench -v rounds=7 -f bench/rls_floor.sql
-- Optional variables: rounds (default 5), tag (default 'current': a label for the figures, to
-- compare two variants measured into the same table).  Figures accumulate in bench.rls_floor.
\set ON_ERROR_STOP 1
\if :{?rounds}
\else
\set rounds 5
\endif
\if :{?tag}
\else
\set tag current
\endif
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;

CREATE TABLE IF NOT EXISTS bench.rls_floor (tag text, round int, principal text, query text, mode text,
											tbl text, ms numeric);
GRANT SELECT, INSERT ON bench.rls_floor TO bench_app;
CREATE TABLE IF NOT EXISTS bench.rls_floor_principals (principal text PRIMARY KEY, how text NOT NULL,
													   merchant_id uuid NOT NULL);
GRANT SELECT ON bench.rls_floor_principals TO bench_app;

-- Once per data set: the pk key, its rows, and the three principals.
SELECT NOT EXISTS (SELECT FROM bench.rls_floor_principals) AS rls_floor_setup \gset
\if :rls_floor_setup
DO $$
DECLARE
	t2 bench.tenants;
	minted record;
BEGIN
	SELECT * INTO t2 FROM bench.tenants WHERE n = 2;
	PERFORM billium.billium_act_as(t2.owner_id);
	SELECT * INTO minted FROM billium.billium_create_api_key(t2.merchant_id, 'pk', '{invoice:view}', 'bench rls floor pk');
	ALTER TABLE billium.invoices DISABLE TRIGGER USER;   -- written as the loader, not as a principal
	UPDATE billium.invoices SET created_by_key = minted.id WHERE merchant_id = t2.merchant_id;
	ALTER TABLE billium.invoices ENABLE TRIGGER USER;
	UPDATE bench.invoices SET created_by_key = minted.id WHERE merchant_id = t2.merchant_id;
	INSERT INTO bench.rls_floor_principals
	SELECT 'sk', format('SELECT kind FROM billium.billium_authenticate(%L)', k.api_key), k.merchant_id
	FROM bench.keys AS k JOIN bench.tenants AS t USING (merchant_id) WHERE t.n = 1 ORDER BY k.i LIMIT 1;
	INSERT INTO bench.rls_floor_principals
	VALUES ('pk', format('SELECT kind FROM billium.billium_authenticate(%L)', minted.api_key), t2.merchant_id);
	INSERT INTO bench.rls_floor_principals
	SELECT 'session', format('SELECT kind FROM billium.billium_act_as(%L)', t.owner_id), t.merchant_id
	FROM bench.tenants AS t WHERE t.n = 1;
END
$$;
VACUUM ANALYZE billium.invoices, bench.invoices;
\endif

SET ROLE bench_app;
-- One transaction per round and principal: its principal, then each query and mode on billium
-- and on the floor, alternately; then the merchant_id query again with bitmap scans only, so
-- that both sides run the same plan shape whatever the planner's estimates (the policy's array
-- and the query's merchant, both on merchant_id, look more selective than they are, and may turn
-- billium's side into a plain index scan).
SELECT format($q$BEGIN;
%1$s;
INSERT INTO bench.rls_floor
SELECT %2$L, %3$s, %4$L, q.query, m.mode, t.tbl,
	   bench.best_ms(format(CASE WHEN q.query = 'listing' AND t.tbl = 'billium.invoices'
								 THEN 'SELECT count(*), sum(amount) FROM %%s'
								 ELSE 'SELECT count(*), sum(amount) FROM %%s WHERE merchant_id = %%L' END,
							t.tbl, %5$L::uuid), 15, m.mode = 'prepared')
FROM (VALUES (1, 'by merchant_id'), (2, 'listing')) AS q(o, query),
	 (VALUES (1, 'prepared'), (2, 'planned')) AS m(o, mode),
	 (VALUES (1, 'billium.invoices'), (2, 'bench.invoices')) AS t(o, tbl)
ORDER BY q.o, m.o, t.o;
SET LOCAL enable_indexscan = off;
INSERT INTO bench.rls_floor
SELECT %2$L, %3$s, %4$L, 'by merchant_id, bitmap scans', m.mode, t.tbl,
	   bench.best_ms(format('SELECT count(*), sum(amount) FROM %%s WHERE merchant_id = %%L', t.tbl, %5$L::uuid),
					 15, m.mode = 'prepared')
FROM (VALUES (1, 'prepared'), (2, 'planned')) AS m(o, mode),
	 (VALUES (1, 'billium.invoices'), (2, 'bench.invoices')) AS t(o, tbl)
ORDER BY m.o, t.o;
SET LOCAL enable_indexscan = on;
SET LOCAL enable_bitmapscan = off;
INSERT INTO bench.rls_floor
SELECT %2$L, %3$s, %4$L, 'by merchant_id, index scans', m.mode, t.tbl,
	   bench.best_ms(format('SELECT count(*), sum(amount) FROM %%s WHERE merchant_id = %%L', t.tbl, %5$L::uuid),
					 15, m.mode = 'prepared')
FROM (VALUES (1, 'prepared'), (2, 'planned')) AS m(o, mode),
	 (VALUES (1, 'billium.invoices'), (2, 'bench.invoices')) AS t(o, tbl)
ORDER BY m.o, t.o;
COMMIT$q$, p.how, :'tag', f.done + r, p.principal, p.merchant_id)
FROM generate_series(1, :rounds) AS r, bench.rls_floor_principals AS p,
	 (SELECT coalesce(max(round), 0) AS done FROM bench.rls_floor) AS f
ORDER BY r, p.principal
\gexec
RESET ROLE;

-- Best of the rounds, billium over the floor (1.00: no cost at all).
SELECT f.tag, f.principal, f.query, f.mode,
	   min(f.ms) FILTER (WHERE f.tbl = 'billium.invoices') AS billium_ms,
	   min(f.ms) FILTER (WHERE f.tbl = 'bench.invoices') AS floor_ms,
	   round(min(f.ms) FILTER (WHERE f.tbl = 'billium.invoices') /
			 min(f.ms) FILTER (WHERE f.tbl = 'bench.invoices'), 2) AS ratio,
	   count(DISTINCT f.round) AS rounds
FROM bench.rls_floor AS f
GROUP BY f.tag, f.principal, f.query, f.mode
ORDER BY f.principal, f.query, f.mode, f.tag;
