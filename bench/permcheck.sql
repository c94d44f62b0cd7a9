-- make bench, part 5: the per-row permission check over the 1,000,000 permission sets of
-- bench/setup.sql, stored three ways in three one-column tables, run by bench/run.sh:
--   billium   bench.perms_permset  WHERE billium_has_permission(p, 'invoice:view')  (the name
--                                  resolved once per query, kept in fn_extra);
--   bigint    bench.perms_bigint   WHERE (b & <the bit of invoice:view>) = <the bit>: a raw AND
--                                  on the same bits, the floor;
--   text[]    bench.perms_text     WHERE 'invoice:view' = ANY (t): the usual schema.
-- Each check is evaluated on every row as sum((check)::int), and reported as the time it adds
-- over a bare scan of its own table, sum((<column> IS NOT NULL)::int): that reads every row,
-- checks nothing, and does the same aggregate work.  (A bare count(*) would not even read the
-- rows: on all-visible pages the scan counts line pointers, so the difference would be memory
-- traffic; and WHERE check would feed the aggregate only the rows that pass, half of them.)  One core (no parallel workers); 7 rounds, the six queries
-- interleaved in each, the best of each kept.  The figures go into bench.results for run.sh.
\set ON_ERROR_STOP 1
SET max_parallel_workers_per_gather = 0;
SELECT billium.billium_permset_from_names('{invoice:view}')::bigint AS bit \gset

CREATE TEMP TABLE perm_runs AS
SELECT r, v.variant, bench.best_ms(v.query, 1) AS ms
FROM generate_series(1, 7) AS r
CROSS JOIN LATERAL (VALUES
	('billium bare', 'SELECT sum((p IS NOT NULL)::int) FROM bench.perms_permset'),
	('billium', 'SELECT sum(billium.billium_has_permission(p, ''invoice:view'')::int) FROM bench.perms_permset'),
	('bigint bare', 'SELECT sum((b IS NOT NULL)::int) FROM bench.perms_bigint'),
	('bigint', format('SELECT sum(((b & %s) = %s)::int) FROM bench.perms_bigint', :bit, :bit)),
	('text[] bare', 'SELECT sum((t IS NOT NULL)::int) FROM bench.perms_text'),
	('text[]', 'SELECT sum((''invoice:view'' = ANY (t))::int) FROM bench.perms_text')) AS v(variant, query);

INSERT INTO bench.results
SELECT 'perm', 'count over 1,000,000 permission sets', variant, min(ms), NULL
FROM perm_runs GROUP BY variant;

-- The three checks must count the same rows, or they are not the same question.
DO $$
DECLARE
	bit bigint := billium.billium_permset_from_names('{invoice:view}')::bigint;
BEGIN
	IF (SELECT count(*) FROM bench.perms_permset WHERE billium.billium_has_permission(p, 'invoice:view'))
	   IS DISTINCT FROM (SELECT count(*) FROM bench.perms_bigint WHERE (b & bit) = bit)
	   OR (SELECT count(*) FROM bench.perms_permset WHERE billium.billium_has_permission(p, 'invoice:view'))
	   IS DISTINCT FROM (SELECT count(*) FROM bench.perms_text WHERE 'invoice:view' = ANY (t)) THEN
		RAISE EXCEPTION 'bench: billium_has_permission, the bigint AND and the text[] check disagree';
	END IF;
END
$$;
