-- The catalog views, and what PUBLIC may and may not do in schema billium.
CREATE ROLE regress_billium_reader;
SET ROLE regress_billium_reader;
SET search_path = billium, public;

SELECT "bit", name, domain FROM permissions ORDER BY "bit";
SELECT domain, count(*) FROM permissions GROUP BY domain ORDER BY min("bit");

-- An ordinary role may read the catalog but create nothing in the extension's schema.
CREATE TABLE billium.intruder (id int);
\echo :LAST_ERROR_SQLSTATE
CREATE FUNCTION billium.billium_role_cap(text, int) RETURNS int LANGUAGE sql AS 'SELECT 1';
\echo :LAST_ERROR_SQLSTATE

RESET ROLE;
-- Every function of the extension has a comment or is a type support function.
SELECT p.proname
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'billium'
WHERE obj_description(p.oid, 'pg_proc') IS NULL
  AND p.proname !~ '^billium_permset_(in|out|recv|send|eq|ne|lt|le|gt|ge|cmp|sortsupport|hash|hash_extended)$'
  AND p.proname !~ '_catalog$'
ORDER BY 1;
-- The functions a policy may call are marked as the planner needs them.
SELECT p.proname, p.provolatile, p.proparallel, p.proisstrict, p.proleakproof
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'billium'
WHERE p.proname IN ('billium_has_permission', 'billium_permset_contains', 'billium_permset_eq',
                    'billium_permset_overlaps', 'billium_role_cap', 'billium_permset_count')
ORDER BY 1;
DROP OWNED BY regress_billium_reader;
DROP ROLE regress_billium_reader;
