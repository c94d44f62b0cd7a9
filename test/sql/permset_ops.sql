-- Operators, operator classes, aggregates and functions of billium_permset.
CREATE ROLE regress_billium_reader;
SET ROLE regress_billium_reader;
SET search_path = billium, public;

CREATE TEMP TABLE ops (a billium_permset, b billium_permset);
INSERT INTO ops VALUES
  ('{invoice:view,invoice:create}', '{invoice:view}'),
  ('{invoice:view}', '{invoice:view,invoice:create}'),
  ('{invoice:view}', '{product:view}'),
  ('{}', '{}'),
  ('{invoice:*,report:view}', '{report:view}');

SELECT a, b, a | b AS "union", a & b AS intersection, a - b AS difference,
       a @> b AS contains, a <@ b AS contained, a && b AS overlaps,
       a = b AS eq, a <> b AS ne
FROM ops;

-- The set algebra agrees with bigint arithmetic on the same bits over many random pairs.
SELECT setseed(0.17);
CREATE TEMP TABLE pairs AS
  SELECT (floor(random() * 17179869184))::bigint::billium_permset AS a,
         (floor(random() * 17179869184))::bigint::billium_permset AS b
  FROM generate_series(1, 3000);
SELECT count(*) FILTER (WHERE (a | b)::bigint = (a::bigint | b::bigint)) AS union_ok,
       count(*) FILTER (WHERE (a & b)::bigint = (a::bigint & b::bigint)) AS intersection_ok,
       count(*) FILTER (WHERE (a - b)::bigint = (a::bigint & ~b::bigint)) AS difference_ok,
       count(*) FILTER (WHERE (a @> b) = ((a::bigint & b::bigint) = b::bigint)) AS contains_ok,
       count(*) FILTER (WHERE (a <@ b) = (b @> a)) AS contained_ok,
       count(*) FILTER (WHERE (a && b) = ((a::bigint & b::bigint) <> 0)) AS overlaps_ok,
       count(*) FILTER (WHERE (a < b) = (a::bigint < b::bigint)) AS order_ok
FROM pairs;

-- Aggregates: null for no rows, like bit_or and bit_and.
SELECT billium_permset_union(a), billium_permset_intersection(a) FROM ops WHERE a <> '{}';
SELECT billium_permset_union(a) IS NULL AS union_empty_null,
       billium_permset_intersection(a) IS NULL AS intersection_empty_null
FROM ops WHERE false;

-- Functions.
SELECT billium_has_permission('{invoice:view}', 'invoice:view') AS has_view,
       billium_has_permission('{invoice:view}', 'invoice:create') AS has_create,
       billium_has_permission('{invoice:*}', 'invoice:*') AS has_domain,
       billium_has_permission('{invoice:view}', 'invoice:*') AS has_partial_domain,
       billium_has_permission('{*}', '*') AS has_all;
SELECT billium_permset_names('{report:view,merchant:view}'), billium_permset_names('{}');
-- Unknown names raise 22P02, never a silent false; also after a cached good name.
SELECT billium_has_permission('{invoice:view}', 'invoice:fly');
\echo :LAST_ERROR_SQLSTATE
SELECT billium_has_permission(s, n)
FROM (VALUES ('{invoice:view}'::billium_permset, 'invoice:view'), ('{}', 'invoce:view')) AS t(s, n);

-- btree and hash: indexes are used, DISTINCT, GROUP BY, sorting and hash joins work.
CREATE TEMP TABLE grants AS
  SELECT g AS id, ((g % 7)::bigint << (g % 30))::billium_permset AS p FROM generate_series(1, 2000) g;
CREATE INDEX ON grants (p);
CREATE INDEX grants_p_hash ON grants USING hash (p);
ANALYZE grants;
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM grants WHERE p = '{invoice:view}';
SELECT count(*) FROM grants WHERE p = '{invoice:view}';
-- A range can only come from the btree.
EXPLAIN (COSTS OFF) SELECT id FROM grants WHERE p < '{merchant:delete}';
SELECT count(*) FROM grants WHERE p < '{merchant:delete}';
RESET enable_seqscan;
RESET enable_bitmapscan;
SELECT count(DISTINCT p) AS distinct_sets FROM grants;
SELECT p, count(*) FROM grants GROUP BY p ORDER BY p LIMIT 3;
SET enable_mergejoin = off;
SET enable_nestloop = off;
EXPLAIN (COSTS OFF) SELECT count(*) FROM grants g1 JOIN grants g2 USING (p);
SELECT count(*) FROM grants g1 JOIN grants g2 USING (p);
RESET enable_mergejoin;
RESET enable_nestloop;

RESET ROLE;
-- The operator classes are complete (needs amvalidate, as contrib/seg checks).
SELECT opcname, amvalidate(opc.oid)
FROM pg_opclass opc JOIN pg_namespace n ON n.oid = opc.opcnamespace
WHERE n.nspname = 'billium' ORDER BY 1, 2;
DROP OWNED BY regress_billium_reader;
DROP ROLE regress_billium_reader;
